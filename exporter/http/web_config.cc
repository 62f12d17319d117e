#include "http/web_config.h"

#include <crypt.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/sha.h>
#include <openssl/ssl.h>
#include <yaml-cpp/yaml.h>

#include <fstream>
#include <memory>
#include <sstream>

namespace yfe::http {
namespace {

constexpr const char* kClientAuthTypes[] = {"NoClientCert", "RequestClientCert",
                                            "RequireAnyClientCert", "VerifyClientCertIfGiven",
                                            "RequireAndVerifyClientCert"};
// Used for unknown users so that they cost as much as known ones.
constexpr const char* kDummyHash = "$2y$10$QOauhQNbBCuQDKes6eFzPeMqBSjb7Mr5DUmpZ/VcEd00UAV/LDeSi";

std::string Sha256(const std::string& s) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(s.data()), s.size(), digest);
  return std::string(reinterpret_cast<char*>(digest), sizeof digest);
}

bool IsBcrypt(const std::string& h) {
  return h.size() == 60 &&
         (h.starts_with("$2y$") || h.starts_with("$2b$") || h.starts_with("$2a$"));
}

}  // namespace

Result<WebConfig> ParseWebConfig(const std::string& yaml, const std::string& source) {
  WebConfig cfg;
  YAML::Node root;
  try {
    root = YAML::Load(yaml);
  } catch (const YAML::Exception& e) {
    return Error(source + ":" + std::to_string(e.mark.line + 1) + ": invalid YAML: " + e.msg);
  }
  if (!root || root.IsNull()) return cfg;
  if (!root.IsMap()) return Error(source + ": the top level must be a mapping");
  auto where = [&](const YAML::Node& n) {
    return source + ":" + std::to_string(n.Mark().line + 1) + ": ";
  };
  try {
    for (const auto& kv : root) {
      const std::string key = kv.first.Scalar();
      const YAML::Node& v = kv.second;
      if (key == "tls_server_config") {
        if (v.IsNull()) continue;
        if (!v.IsMap()) return Error(where(v) + "tls_server_config must be a mapping");
        TlsConfig tls;
        for (const auto& t : v) {
          const std::string k = t.first.Scalar();
          if (!t.second.IsScalar()) return Error(where(t.second) + k + " must be a string");
          const std::string s = t.second.Scalar();
          if (k == "cert_file")
            tls.cert_file = s;
          else if (k == "key_file")
            tls.key_file = s;
          else if (k == "client_auth_type")
            tls.client_auth_type = s;
          else if (k == "client_ca_file")
            tls.client_ca_file = s;
          else if (k == "min_version")
            tls.min_version = s;
          else if (k == "max_version")
            tls.max_version = s;
          else if (k == "cipher_suites" || k == "curve_preferences" ||
                   k == "prefer_server_cipher_suites" || k == "client_allowed_sans") {
            return Error(where(t.first) + "tls_server_config." + k + " is not supported");
          } else {
            return Error(where(t.first) + "unknown key tls_server_config." + k);
          }
        }
        if (tls.cert_file.empty() || tls.key_file.empty()) {
          return Error(where(v) + "tls_server_config needs cert_file and key_file");
        }
        bool known = false;
        for (const char* t : kClientAuthTypes) known |= tls.client_auth_type == t;
        if (!known) {
          return Error(where(v) + "tls_server_config.client_auth_type \"" + tls.client_auth_type +
                       "\" is not one of NoClientCert, RequestClientCert, "
                       "RequireAnyClientCert, VerifyClientCertIfGiven, RequireAndVerifyClientCert");
        }
        if ((tls.client_auth_type == "VerifyClientCertIfGiven" ||
             tls.client_auth_type == "RequireAndVerifyClientCert") &&
            tls.client_ca_file.empty()) {
          return Error(where(v) + "client_auth_type " + tls.client_auth_type +
                       " needs client_ca_file");
        }
        for (const std::string* ver : {&tls.min_version, &tls.max_version}) {
          if (!ver->empty() && *ver != "TLS10" && *ver != "TLS11" && *ver != "TLS12" &&
              *ver != "TLS13") {
            return Error(where(v) + "TLS version \"" + *ver + "\" must be TLS10..TLS13");
          }
        }
        // "TLS10" < ... < "TLS13" as strings; an empty min_version means TLS12, as in the
        // exporter-toolkit. A range with no version in it would fail every handshake.
        if (const std::string min = tls.min_version.empty() ? "TLS12" : tls.min_version;
            !tls.max_version.empty() && min > tls.max_version) {
          return Error(where(v) + "min_version " + min + " is above max_version " +
                       tls.max_version + ": no TLS version would be left");
        }
        cfg.tls = tls;
      } else if (key == "basic_auth_users") {
        if (v.IsNull()) continue;
        if (!v.IsMap()) return Error(where(v) + "basic_auth_users must be a mapping");
        for (const auto& u : v) {
          const std::string user = u.first.Scalar();
          if (!u.second.IsScalar() || !IsBcrypt(u.second.Scalar())) {
            return Error(where(u.second) + "basic_auth_users." + user +
                         " must be a bcrypt hash ($2y$..., e.g. from htpasswd -nBC 10)");
          }
          if (user.find(':') != std::string::npos) {
            return Error(where(u.first) + "a basic auth user name cannot contain ':'");
          }
          cfg.basic_auth_users[user] = u.second.Scalar();
        }
      } else if (key == "http_server_config") {
        if (v.IsNull()) continue;
        if (!v.IsMap()) return Error(where(v) + "http_server_config must be a mapping");
        for (const auto& h : v) {
          const std::string k = h.first.Scalar();
          if (k == "headers" && h.second.IsMap()) {
            for (const auto& hv : h.second) {
              std::string name = hv.first.Scalar(), value = hv.second.Scalar();
              if (name.find_first_of(":\r\n") != std::string::npos ||
                  value.find_first_of("\r\n") != std::string::npos) {
                return Error(where(hv.first) + "invalid header " + name);
              }
              cfg.headers[name] = value;
            }
          } else if (k != "http2") {
            return Error(where(h.first) + "unknown key http_server_config." + k);
          }
        }
      } else {
        return Error(where(kv.first) + "unknown key \"" + key +
                     "\" (known: tls_server_config, basic_auth_users, http_server_config)");
      }
    }
  } catch (const YAML::Exception& e) {
    return Error(source + ":" + std::to_string(e.mark.line + 1) + ": " + e.msg);
  }
  return cfg;
}

Result<bool> CheckTlsFiles(const TlsConfig& tls) {
  // OpenSSL's own reason (no such file, no start line, key values mismatch, ...).
  auto reason = [] {
    unsigned long e = ERR_peek_last_error();
    char buf[256] = "";
    if (e != 0) ERR_error_string_n(e, buf, sizeof buf);
    ERR_clear_error();
    return std::string(e != 0 ? buf : "unknown error");
  };
  std::unique_ptr<SSL_CTX, decltype(&SSL_CTX_free)> ctx(SSL_CTX_new(TLS_server_method()),
                                                        SSL_CTX_free);
  if (!ctx) return Error("cannot create a TLS context: " + reason());
  ERR_clear_error();
  if (SSL_CTX_use_certificate_chain_file(ctx.get(), tls.cert_file.c_str()) != 1) {
    return Error("cannot load tls_server_config.cert_file " + tls.cert_file + ": " + reason());
  }
  if (SSL_CTX_use_PrivateKey_file(ctx.get(), tls.key_file.c_str(), SSL_FILETYPE_PEM) != 1) {
    return Error("cannot load tls_server_config.key_file " + tls.key_file + ": " + reason());
  }
  if (SSL_CTX_check_private_key(ctx.get()) != 1) {
    return Error("tls_server_config.key_file " + tls.key_file +
                 " does not match tls_server_config.cert_file " + tls.cert_file);
  }
  if (!tls.client_ca_file.empty() &&
      SSL_CTX_load_verify_locations(ctx.get(), tls.client_ca_file.c_str(), nullptr) != 1) {
    return Error("cannot load tls_server_config.client_ca_file " + tls.client_ca_file + ": " +
                 reason());
  }
  return true;
}

Result<WebConfig> LoadWebConfig(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Error(path + ": cannot read the web config file");
  std::stringstream buf;
  buf << in.rdbuf();
  auto cfg = ParseWebConfig(buf.str(), path);
  // The files it names are checked now, so that --config.check and the start-up report a
  // missing or mismatched certificate clearly, before anything listens.
  if (cfg.ok() && cfg->tls) {
    if (auto files = CheckTlsFiles(*cfg->tls); !files.ok()) {
      return Error(path + ": " + files.error());
    }
  }
  return cfg;
}

std::optional<std::string> DecodeBase64(const std::string& in) {
  auto value = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
  };
  if (in.size() % 4 != 0 || in.size() > 4096) return std::nullopt;
  std::string out;
  for (size_t i = 0; i < in.size(); i += 4) {
    int v[4];
    int pad = 0;
    for (int k = 0; k < 4; ++k) {
      char c = in[i + k];
      if (c == '=' && i + 4 == in.size() && k >= 2) {
        v[k] = 0;
        ++pad;
      } else {
        if (pad) return std::nullopt;
        v[k] = value(c);
        if (v[k] < 0) return std::nullopt;
      }
    }
    uint32_t n = (v[0] << 18) | (v[1] << 12) | (v[2] << 6) | v[3];
    out += static_cast<char>((n >> 16) & 0xFF);
    if (pad < 2) out += static_cast<char>((n >> 8) & 0xFF);
    if (pad < 1) out += static_cast<char>(n & 0xFF);
  }
  return out;
}

BasicAuth::BasicAuth(std::map<std::string, std::string> users)
    : users_(std::move(users)), dummy_hash_(kDummyHash) {
  // Same scheme and cost as the first configured hash ("$2y$05$..." from htpasswd -B costs
  // about 30 times less than cost 10): otherwise timing tells known user names apart.
  if (users_.empty()) return;
  const std::string& first = users_.begin()->second;
  if (!IsBcrypt(first)) return;
  const std::string setting = first.substr(0, 7) + "yunxiaoflowexporterdu.";  // a 22-character salt
  crypt_data data{};
  const char* made = crypt_r("not a password", setting.c_str(), &data);
  if (made && IsBcrypt(made)) dummy_hash_ = made;
}

bool BasicAuth::Check(const std::string& header) {
  if (users_.empty()) return true;
  const std::string prefix = "Basic ";
  if (header.size() <= prefix.size() || !header.starts_with(prefix)) {
    return false;
  }
  auto decoded = DecodeBase64(header.substr(prefix.size()));
  if (!decoded) return false;
  auto colon = decoded->find(':');
  if (colon == std::string::npos) return false;
  const std::string user = decoded->substr(0, colon);
  const std::string password = decoded->substr(colon + 1);
  auto it = users_.find(user);
  const std::string& hash = it != users_.end() ? it->second : dummy_hash_;
  const std::string key = Sha256(user + ":" + password + ":" + hash);
  {
    std::lock_guard lock(mu_);
    if (it != users_.end() && verified_.contains(key)) return true;
  }
  crypt_data data{};
  const char* result = crypt_r(password.c_str(), hash.c_str(), &data);
  bool ok = result && std::string_view(result).size() == hash.size() &&
            CRYPTO_memcmp(result, hash.data(), hash.size()) == 0 && it != users_.end();
  if (ok) {
    std::lock_guard lock(mu_);
    if (verified_.size() > 1024) verified_.clear();
    verified_.insert(key);
  }
  return ok;
}

}  // namespace yfe::http
