// Repository URLs as the Flow API reports them (a run's code sources) may carry
// credentials: `https://oauth2:TOKEN@host/repo.git`, `user:pass@host:path` (scp-like),
// `?private_token=...`. StripRepoCredentials returns the URL without them, for the `repo`
// label. Pure and thread-safe.
//
//   StripRepoCredentials("https://u:pa/ss@host/r.git?token=x")   // "https://host/r.git"
#pragma once

#include <string>
#include <string_view>

namespace yfe::model {

// Removes the userinfo (everything up to the last '@', since a password may hold
// `/ ? # @ :`; a bare `git@`, the SSH convention, stays), the query and the fragment, in
// every form: scheme://, //host, scheme-less and scp-like. When a part cannot be told
// apart from a credential the output loses it: it may lose the host, never leak a secret.
std::string StripRepoCredentials(std::string_view repo);

}  // namespace yfe::model
