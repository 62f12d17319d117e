#include "http/web_config.h"

#include <crypt.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/sha.h>
#include <openssl/ssl.h>
#include <yaml-cpp/yaml.h>

#include <memory>
#include <utility>

#include "config/schema.h"

namespace yfe::http {
namespace {

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

using config::Checker;
using config::Section;

// tls_server_config: the keys, then what no single key can tell.
void DeclareTls(Section tls, std::optional<TlsConfig>& out) {
  TlsConfig t;
  tls.String("cert_file", t.cert_file, "PEM certificate (chain): required");
  tls.String("key_file", t.key_file, "PEM private key of cert_file: required");
  tls.Choice("client_auth_type", t.client_auth_type,
             {"NoClientCert", "RequestClientCert", "RequireAnyClientCert",
              "VerifyClientCertIfGiven", "RequireAndVerifyClientCert"},
             "whether clients present a certificate, and whether it is verified");
  tls.String("client_ca_file", t.client_ca_file, "PEM CA certificates for client certificates");
  tls.Choice("min_version", t.min_version, {"TLS10", "TLS11", "TLS12", "TLS13"},
             "lowest TLS version accepted");
  YAML::Node max = tls.Choice("max_version", t.max_version, {"TLS10", "TLS11", "TLS12", "TLS13"},
                              "highest TLS version accepted; default: the highest");
  for (const char* k : {"cipher_suites", "curve_preferences", "prefer_server_cipher_suites",
                        "client_allowed_sans"}) {
    if (YAML::Node n = tls.Raw(k, "unsupported", "not supported: rejected")) {
      tls.checker().Error(n, "\"" + tls.Path(k) + "\" is not supported");
    }
  }
  if (!tls.present()) return;  // absent, null, or the schema only
  Checker& c = tls.checker();
  for (auto [key, value] : {std::pair{"cert_file", &t.cert_file}, {"key_file", &t.key_file}}) {
    if (value->empty()) c.Error(tls.node(), "\"" + tls.Path(key) + "\" is required");
  }
  if ((t.client_auth_type == "VerifyClientCertIfGiven" ||
       t.client_auth_type == "RequireAndVerifyClientCert") &&
      t.client_ca_file.empty()) {
    c.Error(tls.node(), "\"" + tls.Path("client_ca_file") +
                            "\" is required with client_auth_type " + t.client_auth_type);
  }
  // "TLS10" < ... < "TLS13" as strings; an empty min_version means TLS12, as in the
  // exporter-toolkit. A range with no version in it would fail every handshake.
  if (const std::string min = t.min_version.empty() ? "TLS12" : t.min_version;
      !t.max_version.empty() && min > t.max_version) {
    c.Error(max, "\"" + tls.Path("max_version") + "\": min_version " + min +
                     " is above max_version " + t.max_version + ": no TLS version would be left");
  }
  out = t;
}

void DeclareBasicAuth(Section& root, std::map<std::string, std::string>& out) {
  Checker& c = root.checker();
  root.Entries("basic_auth_users", "a mapping of user names to bcrypt hashes",
               "user name: bcrypt hash", [&](const YAML::Node& k, const YAML::Node& v) {
                 const std::string user = k.IsScalar() ? k.Scalar() : "?";
                 const std::string path = root.Path("basic_auth_users") + "." + user;
                 if (user.find(':') != std::string::npos) {
                   c.Error(k, "\"" + path + "\": a basic auth user name cannot contain ':'");
                 } else if (!v.IsScalar() || !IsBcrypt(v.Scalar())) {
                   c.Error(v, "\"" + path +
                                  "\" must be a bcrypt hash ($2y$..., e.g. from htpasswd -nBC 10)");
                 } else {
                   out[user] = v.Scalar();
                 }
               });
}

void DeclareHttpServer(Section http, std::map<std::string, std::string>& out) {
  Checker& c = http.checker();
  http.Entries("headers", "a mapping of header names to values", "extra response headers",
               [&](const YAML::Node& k, const YAML::Node& v) {
                 const std::string name = k.IsScalar() ? k.Scalar() : "";
                 const std::string value = v.IsScalar() ? v.Scalar() : "";  // null: ""
                 if (!k.IsScalar() || !(v.IsScalar() || v.IsNull()) || name.empty() ||
                     name.find_first_of(":\r\n") != std::string::npos ||
                     value.find_first_of("\r\n") != std::string::npos) {
                   c.Error(k, "\"" + http.Path("headers") + "\": invalid header " + name);
                 } else {
                   out[name] = value;
                 }
               });
  http.Raw("http2", "bool", "accepted and ignored (the server speaks HTTP/1.1)");
}

// The whole file: the one declaration of every key.
void DeclareWebConfig(Section& root, WebConfig& cfg) {
  DeclareTls(root.Map("tls_server_config"), cfg.tls);
  DeclareBasicAuth(root, cfg.basic_auth_users);
  DeclareHttpServer(root.Map("http_server_config"), cfg.headers);
}

}  // namespace

std::string WebConfigLoad::error() const {
  std::string all;
  for (const auto& e : errors) all += (all.empty() ? "" : "; ") + e;
  return all;
}

std::vector<config::KeyInfo> WebConfigKeys() {
  std::vector<std::string> sink;
  Checker c = Checker::Schema(sink);
  WebConfig cfg;
  {
    Section root = c.Root(YAML::Node());
    DeclareWebConfig(root, cfg);
  }
  return c.keys();
}

WebConfigLoad ParseWebConfig(const std::string& yaml, const std::string& source) {
  WebConfigLoad load;
  std::vector<std::string> warnings;  // the web config has none
  Checker c(source, load.errors, warnings);
  const YAML::Node root = c.Load(yaml, "a mapping");
  if (!root || root.IsNull()) return load;
  c.Walk(root, [&](Section& r) { DeclareWebConfig(r, load.config); });
  return load;
}

Status CheckTlsFiles(const TlsConfig& tls) {
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
  return Ok();
}

WebConfigLoad LoadWebConfig(const std::string& path) {
  const std::optional<std::string> text = config::ReadWholeFile(path);
  if (!text) {
    WebConfigLoad load;
    load.errors.push_back(path + ": cannot read the web config file");
    return load;
  }
  WebConfigLoad load = ParseWebConfig(*text, path);
  // The files it names are checked now, so that --config.check and the start-up report a
  // missing or mismatched certificate clearly, before anything listens.
  if (load.ok() && load.config.tls) {
    if (Status files = CheckTlsFiles(*load.config.tls); !files.ok()) {
      load.errors.push_back(path + ": " + files.error());
    }
  }
  return load;
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
