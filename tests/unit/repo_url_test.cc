#include "model/repo_url.h"

#include <gtest/gtest.h>

namespace yfe::model {
namespace {

struct Case {
  const char* in;
  const char* out;
};

// Audit finding 9: each of these leaked all or part of the password before.
TEST(StripRepoCredentials, Table) {
  const Case cases[] = {
      // Plain forms: nothing to strip.
      {"https://codeup.aliyun.com/org/app.git", "https://codeup.aliyun.com/org/app.git"},
      {"git@codeup.aliyun.com:org/x.git", "git@codeup.aliyun.com:org/x.git"},
      {"ssh://git@host:2222/org/x.git", "ssh://git@host:2222/org/x.git"},
      {"https://[::1]:8443/x.git", "https://[::1]:8443/x.git"},
      {"codeup.aliyun.com/org/x", "codeup.aliyun.com/org/x"},
      {"", ""},
      // Userinfo in scheme:// URLs, whatever the password holds.
      {"https://u:p@host/x.git", "https://host/x.git"},
      {"https://tok@host:8443/x.git", "https://host:8443/x.git"},
      {"https://user:pa/ss@host/r.git", "https://host/r.git"},
      {"https://user:p@ss@host/repo.git", "https://host/repo.git"},
      {"https://user:p:s:s@host/repo.git", "https://host/repo.git"},
      {"https://us%40er:p%2Fss%3A@host/r", "https://host/r"},
      {"https://git:secret@host/r", "https://host/r"},
      {"HTTPS://U:P@HOST/R", "HTTPS://HOST/R"},
      // //host, scheme-less and scp-like forms.
      {"//user:secret@host/repo", "//host/repo"},
      {"user:secret@host/repo", "host/repo"},
      {"oauth2:glpat-AAAA@gitlab.com:g/r", "gitlab.com:g/r"},
      {"deploy:pa/ss@host:g/r.git", "host:g/r.git"},
      // Tokens in the query or the fragment.
      {"https://host/x.git?token=1#frag", "https://host/x.git"},
      {"https://host/x.git?private_token=glpat-X", "https://host/x.git"},
      {"https://host/x.git?a=1&access_token=X&password=Y", "https://host/x.git"},
      {"https://host/x.git#access_token=X", "https://host/x.git"},
      {"host:g/r?token=X", "host:g/r"},
      // An '@' after a '?' or '#': either a password holds the '?' or a query value holds
      // the '@' and what follows it is the tail of a token. Nothing is kept.
      {"https://user:p?ss@host/repo.git", "https://"},
      {"https://user:p#ss@host/repo.git", "https://"},
      {"https://host/x?token=SECRET@tail", "https://"},
      {"https://user:p?ss@host?token=a@b", "https://"},
      // What libcurl cannot read as host[:port] is dropped, not guessed at.
      {"https://user:pass%40host/x", "https:///x"},
      {"https://user:pass", "https://"},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(StripRepoCredentials(c.in), c.out) << "input: " << c.in;
  }
}

// Every reserved character in a password, in every form: the password never survives.
TEST(StripRepoCredentials, NoPasswordSurvivesAnyForm) {
  const std::string forms[] = {
      "https://user:{}@host/r.git", "//user:{}@host/r",       "user:{}@host/r",
      "user:{}@host:g/r.git",       "ssh://git:{}@host:22/r", "https://host/r?private_token={}"};
  const std::string specials = "/?#@:%&=;+ ";
  for (const auto& form : forms) {
    for (char special : specials) {
      std::string password = std::string("S3CRETpw") + special + "tail0123";
      std::string url = form;
      url.replace(url.find("{}"), 2, password);
      std::string out = StripRepoCredentials(url);
      EXPECT_EQ(out.find("S3CRETpw"), std::string::npos) << url << " -> " << out;
      EXPECT_EQ(out.find("tail0123"), std::string::npos) << url << " -> " << out;
    }
  }
}

TEST(StripRepoCredentials, RemovesUserinfoQueryAndFragment) {
  EXPECT_EQ(StripRepoCredentials("https://u:p@host/x.git"), "https://host/x.git");
  EXPECT_EQ(StripRepoCredentials("https://tok@host:8443/x.git"), "https://host:8443/x.git");
  EXPECT_EQ(StripRepoCredentials("https://host/x.git?token=1#frag"), "https://host/x.git");
  // A password may hold '@' and '/': the userinfo runs to the last '@'.
  EXPECT_EQ(StripRepoCredentials("https://a:b@c@host/p"), "https://host/p");
  EXPECT_EQ(StripRepoCredentials("git@codeup.aliyun.com:org/x.git"),
            "git@codeup.aliyun.com:org/x.git");
  EXPECT_EQ(StripRepoCredentials("https://u:p@host"), "https://host");
}

}  // namespace
}  // namespace yfe::model
