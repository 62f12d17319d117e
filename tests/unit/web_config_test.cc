#include "http/web_config.h"

#include <crypt.h>
#include <gtest/gtest.h>

#include "config/schema.h"

namespace yfe::http {
namespace {

std::string Bcrypt(const std::string& password) {
  crypt_data data{};
  return crypt_r(password.c_str(), "$2b$05$abcdefghijklmnopqrstuu", &data);
}

std::string Basic(const std::string& creds) {
  static const char* k = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  size_t i = 0;
  for (; i + 2 < creds.size(); i += 3) {
    uint32_t n = (uint8_t(creds[i]) << 16) | (uint8_t(creds[i + 1]) << 8) | uint8_t(creds[i + 2]);
    out += {k[n >> 18], k[(n >> 12) & 63], k[(n >> 6) & 63], k[n & 63]};
  }
  if (creds.size() - i == 1) {
    uint32_t n = uint8_t(creds[i]) << 16;
    out += {k[n >> 18], k[(n >> 12) & 63], '=', '='};
  } else if (creds.size() - i == 2) {
    uint32_t n = (uint8_t(creds[i]) << 16) | (uint8_t(creds[i + 1]) << 8);
    out += {k[n >> 18], k[(n >> 12) & 63], k[(n >> 6) & 63], '='};
  }
  return "Basic " + out;
}

TEST(WebConfig, ParsesToolkitFormat) {
  auto w = ParseWebConfig(
      "tls_server_config:\n  cert_file: a.crt\n  key_file: a.key\n"
      "  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: ca\n"
      "  min_version: TLS13\nbasic_auth_users:\n  prom: " +
          Bcrypt("pw") + "\n",
      "w.yml");
  ASSERT_TRUE(w.ok()) << w.error();
  EXPECT_EQ(w.config.tls->cert_file, "a.crt");
  EXPECT_EQ(w.config.tls->min_version, "TLS13");
  EXPECT_EQ(w.config.basic_auth_users.size(), 1u);
}

TEST(WebConfig, RejectsMistakes) {
  EXPECT_FALSE(ParseWebConfig("tls_server_config: {cert_file: a}", "w").ok());
  EXPECT_FALSE(ParseWebConfig("tls_server_config: {cert_file: a, key_file: b, "
                              "client_auth_type: RequireAndVerifyClientCert}",
                              "w")
                   .ok());
  EXPECT_FALSE(ParseWebConfig("basic_auth_users: {u: plaintext}", "w").ok());
  EXPECT_FALSE(ParseWebConfig("unknown: 1", "w").ok());
  EXPECT_FALSE(
      ParseWebConfig("tls_server_config: {cert_file: a, key_file: b, min_version: SSL3}", "w")
          .ok());
  EXPECT_TRUE(ParseWebConfig("", "w").ok());
}

// Every problem of the file is reported, each with its line, in the main config's format
// ("file:line: ..."); the parse used to stop at the first.
TEST(WebConfig, ReportsEveryProblemWithItsLine) {
  auto w = ParseWebConfig(
      "tls_server_config:\n"             // 1
      "  cert_file: a.crt\n"             // 2
      "  key_file: a.key\n"              // 3
      "  client_auth_type: Sometimes\n"  // 4
      "basic_auth_users:\n"              // 5
      "  prom: plaintext\n",             // 6
      "web.yml");
  ASSERT_EQ(w.errors.size(), 2u) << w.error();
  EXPECT_TRUE(w.errors[0].starts_with("web.yml:4: \"tls_server_config.client_auth_type\" must be "))
      << w.errors[0];
  EXPECT_NE(w.errors[0].find("Sometimes"), std::string::npos) << w.errors[0];
  EXPECT_TRUE(w.errors[1].starts_with("web.yml:6: \"basic_auth_users.prom\" must be a bcrypt hash"))
      << w.errors[1];
}

// Unknown keys are found at every depth, with the keys known there, as in the main config.
TEST(WebConfig, UnknownNestedKeyIsReportedWithItsLine) {
  auto w = ParseWebConfig(
      "http_server_config:\n"
      "  headers:\n"
      "    X-Frame-Options: deny\n"
      "  compression: true\n"
      "tls_server_config:\n"
      "  cert_file: a\n"
      "  key_file: b\n"
      "  ciphers: x\n",
      "web.yml");
  ASSERT_EQ(w.errors.size(), 2u) << w.error();  // in the order of the declarations
  EXPECT_TRUE(w.errors[0].starts_with("web.yml:8: unknown key \"tls_server_config.ciphers\""))
      << w.errors[0];
  EXPECT_EQ(w.errors[1],
            "web.yml:4: unknown key \"http_server_config.compression\" (known keys here: "
            "headers, http2)");
}

TEST(WebConfig, ResponseHeaders) {
  auto w = ParseWebConfig(
      "http_server_config:\n  headers:\n    X-Frame-Options: deny\n    X-Empty:\n", "web.yml");
  ASSERT_TRUE(w.ok()) << w.error();
  EXPECT_EQ(w.config.headers,
            (std::map<std::string, std::string>{{"X-Empty", ""}, {"X-Frame-Options", "deny"}}));
  auto bad = ParseWebConfig("http_server_config:\n  headers:\n    \"Bad:Name\": x\n", "web.yml");
  ASSERT_EQ(bad.errors.size(), 1u);
  EXPECT_EQ(bad.errors[0], "web.yml:3: \"http_server_config.headers\": invalid header Bad:Name");
}

TEST(WebConfig, KeysAreDeclaredOnce) {
  std::vector<std::string> paths;
  for (const config::KeyInfo& k : WebConfigKeys()) paths.push_back(k.path);
  EXPECT_EQ(paths, (std::vector<std::string>{
                       "tls_server_config.cert_file", "tls_server_config.key_file",
                       "tls_server_config.client_auth_type", "tls_server_config.client_ca_file",
                       "tls_server_config.min_version", "tls_server_config.max_version",
                       "tls_server_config.cipher_suites", "tls_server_config.curve_preferences",
                       "tls_server_config.prefer_server_cipher_suites",
                       "tls_server_config.client_allowed_sans", "basic_auth_users",
                       "http_server_config.headers", "http_server_config.http2"}));
}

// Audit finding 13c: a range with no version in it was accepted, and then every
// handshake failed.
TEST(WebConfig, TlsVersionRangeMustNotBeEmpty) {
  auto tls = [](const std::string& versions) {
    return ParseWebConfig("tls_server_config: {cert_file: a, key_file: b, " + versions + "}", "w");
  };
  auto bad = tls("min_version: TLS13, max_version: TLS12");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().find("min_version TLS13 is above max_version TLS12"), std::string::npos)
      << bad.error();
  EXPECT_FALSE(tls("max_version: TLS11").ok());  // the default minimum is TLS12
  EXPECT_TRUE(tls("min_version: TLS12, max_version: TLS12").ok());
  EXPECT_TRUE(tls("min_version: TLS10, max_version: TLS11").ok());
  EXPECT_TRUE(tls("max_version: TLS13").ok());
}

TEST(BasicAuth, RightWrongMissing) {
  BasicAuth auth({{"prom", Bcrypt("s3cret")}});
  EXPECT_TRUE(auth.Check(Basic("prom:s3cret")));
  EXPECT_TRUE(auth.Check(Basic("prom:s3cret")));  // cached path
  EXPECT_FALSE(auth.Check(Basic("prom:wrong")));
  EXPECT_FALSE(auth.Check(Basic("other:s3cret")));
  EXPECT_FALSE(auth.Check(""));
  EXPECT_FALSE(auth.Check("Bearer x"));
  EXPECT_FALSE(auth.Check("Basic !!!!"));
  EXPECT_FALSE(auth.Check(Basic("nocolon")));
  EXPECT_TRUE(BasicAuth({}).Check(""));
}

// Unknown users are checked against a dummy hash of the configured cost: with the fixed
// cost-10 dummy, an htpasswd -B (cost 5) user took ~30x less time than an unknown one.
TEST(BasicAuth, UnknownUsersCostWhatKnownOnesCost) {
  crypt_data data{};
  const std::string cost5 = crypt_r("s3cret", "$2b$05$abcdefghijklmnopqrstuu", &data);
  ASSERT_EQ(cost5.substr(0, 7), "$2b$05$");
  BasicAuth auth({{"prom", cost5}});
  EXPECT_EQ(auth.dummy_hash().substr(0, 7), "$2b$05$");
  EXPECT_EQ(auth.dummy_hash().size(), 60u);
  EXPECT_FALSE(auth.Check(Basic("other:s3cret")));
  EXPECT_TRUE(auth.Check(Basic("prom:s3cret")));
  BasicAuth cost7({{"prom", std::string("$2y$07$") + std::string(53, 'a')}});
  EXPECT_EQ(cost7.dummy_hash().substr(0, 7), "$2y$07$");
}

TEST(Base64, Decodes) {
  EXPECT_EQ(*DecodeBase64("cHJvbTpzM2NyZXQ="), "prom:s3cret");
  EXPECT_EQ(*DecodeBase64("YQ=="), "a");
  EXPECT_FALSE(DecodeBase64("YQ="));
  EXPECT_FALSE(DecodeBase64("Y=Q="));
}

}  // namespace
}  // namespace yfe::http
