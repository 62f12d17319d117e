#include "model/repo_url.h"

#include <curl/curl.h>

#include <memory>

namespace yfe::model {
namespace {

// Length of a leading "scheme://" (RFC 3986 scheme), else 0.
size_t SchemeLength(std::string_view s) {
  auto alpha = [](char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); };
  if (s.empty() || !alpha(s[0])) return 0;
  size_t i = 1;
  while (i < s.size() && (alpha(s[i]) || (s[i] >= '0' && s[i] <= '9') || s[i] == '+' ||
                          s[i] == '-' || s[i] == '.')) {
    ++i;
  }
  return s.substr(i, 3) == "://" ? i + 3 : 0;
}

// libcurl's URL parser reads the authority of what is left as host[:port] with no
// userinfo; false when it cannot (a credential in disguise, e.g. "user:pass%40host").
bool CurlSeesOnlyAHost(const std::string& url, bool git_user) {
  std::unique_ptr<CURLU, decltype(&curl_url_cleanup)> u(curl_url(), curl_url_cleanup);
  if (!u) return false;
  if (curl_url_set(u.get(), CURLUPART_URL, url.c_str(),
                   CURLU_NON_SUPPORT_SCHEME | CURLU_ALLOW_SPACE) != CURLUE_OK) {
    return false;
  }
  for (CURLUPart part : {CURLUPART_USER, CURLUPART_PASSWORD, CURLUPART_OPTIONS}) {
    char* value = nullptr;
    CURLUcode rc = curl_url_get(u.get(), part, &value, 0);
    const bool allowed = part == CURLUPART_USER && git_user && value && std::string(value) == "git";
    curl_free(value);
    if (rc == CURLUE_OK && !allowed) return false;
  }
  return true;
}

}  // namespace

std::string StripRepoCredentials(std::string_view repo) {
  size_t start = SchemeLength(repo);
  const bool has_scheme = start > 0;
  if (!has_scheme && repo.starts_with("//")) start = 2;
  const std::string prefix(repo.substr(0, start));
  std::string_view rest = repo.substr(start);

  // The userinfo runs to the last '@': a password may contain '/', '?', '#', '@' or ':',
  // so no earlier delimiter can be trusted to end it.
  bool git_user = false;
  if (size_t at = rest.rfind('@'); at != std::string_view::npos) {
    std::string_view dropped = rest.substr(0, at);
    // A '?' or '#' before that '@' is either inside a password or starts a query whose
    // value holds the '@': what follows may be the tail of a token. Keep nothing.
    if (dropped.find_first_of("?#") != std::string_view::npos) return prefix;
    git_user = dropped == "git";
    rest.remove_prefix(at + 1);
  }
  // Query and fragment may carry tokens (?private_token=, #access_token=): dropped whole.
  if (size_t q = rest.find_first_of("?#"); q != std::string_view::npos) rest = rest.substr(0, q);

  std::string out = prefix + (git_user ? "git@" : "") + std::string(rest);
  if (has_scheme && !CurlSeesOnlyAHost(out, git_user)) {
    // Not a host libcurl would accept: drop the authority, keep the path.
    size_t slash = rest.find('/');
    out = prefix + (slash == std::string_view::npos ? "" : std::string(rest.substr(slash)));
  }
  return out;
}

}  // namespace yfe::model
