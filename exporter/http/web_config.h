// The Prometheus exporter-toolkit web configuration file (--web.config.file): TLS for the
// exporter's own endpoints and HTTP basic auth with bcrypt-hashed passwords.
//
//   tls_server_config:
//     cert_file: server.crt
//     key_file: server.key
//     client_auth_type: RequireAndVerifyClientCert
//     client_ca_file: ca.crt
//     min_version: TLS12
//   basic_auth_users:
//     prometheus: $2y$10$...
#pragma once

#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "util/result.h"

namespace yfe::config {
struct KeyInfo;  // config/schema.h
}  // namespace yfe::config

namespace yfe::http {

struct TlsConfig {
  std::string cert_file;
  std::string key_file;
  std::string client_auth_type = "NoClientCert";
  std::string client_ca_file;
  std::string min_version = "TLS12";
  std::string max_version;
};

struct WebConfig {
  std::optional<TlsConfig> tls;
  std::map<std::string, std::string> basic_auth_users;  // user -> bcrypt hash
  std::map<std::string, std::string> headers;           // extra response headers
};

// A parsed web config and every problem found in it, each "file:line: message" in the
// format of the main config's (config/schema.h: declarations, unknown keys, types).
struct WebConfigLoad {
  WebConfig config;
  std::vector<std::string> errors;  // empty when valid
  bool ok() const { return errors.empty(); }
  std::string error() const;  // every problem, "; "-separated
};

// Parses the file's text through the same schema checker as the main config: every
// problem is reported, with its line. `source` names it in messages (a file path).
WebConfigLoad ParseWebConfig(const std::string& yaml, const std::string& source);
// Reads and parses the file, then (when it parsed) checks that the TLS files it names can
// be loaded and that the key matches the certificate.
WebConfigLoad LoadWebConfig(const std::string& path);
// Every key of the file, as the parser declares it (docs/configuration.md names them all).
std::vector<config::KeyInfo> WebConfigKeys();
// Loads cert_file, key_file and client_ca_file into a throwaway OpenSSL context.
Status CheckTlsFiles(const TlsConfig& tls);

// Checks an Authorization header against basic_auth_users. bcrypt is slow on purpose,
// so successful checks are remembered (by a SHA-256 of the credentials) and repeated
// scrapes cost microseconds. Unknown users cost the same as known ones: they are checked
// against a dummy hash of the configured hashes' cost. How many checks run at once is
// bounded by the HTTP server's handler threads. Thread-safe.
class BasicAuth {
 public:
  explicit BasicAuth(std::map<std::string, std::string> users);
  bool enabled() const { return !users_.empty(); }
  bool Check(const std::string& authorization_header);
  // The hash unknown users are checked against (for tests).
  const std::string& dummy_hash() const { return dummy_hash_; }

 private:
  std::map<std::string, std::string> users_;
  std::string dummy_hash_;
  std::mutex mu_;
  std::set<std::string> verified_;  // SHA-256 of "user:password:hash"
};

// Base64 decoding for the Authorization header (exposed for tests).
std::optional<std::string> DecodeBase64(const std::string& in);

}  // namespace yfe::http
