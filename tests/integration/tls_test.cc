// TLS and basic auth on the exporter's own endpoints (--web.config.file), and TLS to the
// Flow API (api.tls_ca_file), with real curl, real openssl and certificates made by
// `openssl req` when the tests run: a CA, a server certificate for 127.0.0.1 and a client
// certificate signed by it, a client certificate nobody signed, and a self-signed server
// certificate for an HTTPS upstream (openssl s_server -WWW).
#include <crypt.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <cstdio>
#include <filesystem>
#include <memory>
#include <regex>

#include "support/exposition_check.h"
#include "support/harness.h"

namespace yfe::testing {
namespace {

using namespace std::chrono_literals;

// Certificates and keys for the whole test program, made once.
class Pki {
 public:
  static const Pki& Get() {
    static const Pki pki;  // its directory is removed at exit
    return pki;
  }
  std::string File(const std::string& name) const { return dir_.path() + "/" + name; }
  const std::string& error() const { return error_; }

 private:
  Pki() {
    const std::string ec = "-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2";
    dir_.Write("client.ext", "extendedKeyUsage=clientAuth\n");
    for (const std::string& step : {
             "openssl req -x509 " + ec + " -keyout ca.key -out ca.crt -subj /CN=yfe-test-ca",
             "openssl req -new " + ec +
                 " -keyout server.key -out server.csr -subj /CN=127.0.0.1"
                 " -addext subjectAltName=IP:127.0.0.1",
             std::string("openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key "
                         "-CAcreateserial -out server.crt -days 2 -copy_extensions copy"),
             "openssl req -new " + ec + " -keyout client.key -out client.csr -subj /CN=prometheus",
             std::string("openssl x509 -req -in client.csr -CA ca.crt -CAkey ca.key "
                         "-CAcreateserial -out client.crt -days 2 -extfile client.ext"),
             "openssl req -x509 " + ec + " -keyout rogue.key -out rogue.crt -subj /CN=prometheus",
             "openssl req -x509 " + ec +
                 " -keyout upstream.key -out upstream.crt -subj /CN=127.0.0.1"
                 " -addext subjectAltName=IP:127.0.0.1",
         }) {
      std::string out;
      if (RunCommand("cd " + dir_.path() + " && " + step, &out) != 0) {
        error_ += step + ": " + out + "\n";
      }
    }
  }
  TempDir dir_;
  std::string error_;
};

struct CurlResult {
  int exit_code = -1;
  int status = 0;  // 0: no HTTP response
  std::string body;
  std::string headers;
  std::string output;  // curl's own messages
};

// Runs real curl; `args` are extra curl arguments (already shell-quoted where needed).
CurlResult Curl(const std::string& args, const std::string& url) {
  TempDir dir;
  CurlResult r;
  const std::string body = dir.path() + "/body", headers = dir.path() + "/headers";
  r.exit_code = RunCommand("curl -sS --max-time 20 -o " + body + " -D " + headers +
                               " -w '\\n%{http_code}' " + args + " '" + url + "'",
                           &r.output);
  auto nl = r.output.rfind('\n');
  r.status = std::atoi(r.output.c_str() + (nl == std::string::npos ? 0 : nl + 1));
  r.body = ReadFile(body);
  r.headers = ReadFile(headers);
  return r;
}

std::string Bcrypt(const std::string& password) {
  crypt_data data{};
  const char* h = crypt_r(password.c_str(), "$2b$05$yfeTestSaltSaltSaltSau", &data);
  return h ? h : "";
}

// A simulator, and an exporter started with a web config written from `web_yaml`.
class WebConfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(Pki::Get().error(), "");
    sim_ = std::make_unique<Simulator>(SimulatorOptions{.pipelines = 2, .frozen = true});
  }
  void Start(const std::string& web_yaml) {
    const std::string web = dir_.Write("web.yml", web_yaml);
    exp_ = std::make_unique<Exporter>(
        sim_->Config(),
        ExporterOptions{.flags = {"--web.config.file=" + web, "--web.enable-lifecycle"}});
    ASSERT_TRUE(exp_->started()) << exp_->process().Stderr();
  }
  std::string Https(const std::string& path = "/metrics") const {
    return "https://127.0.0.1:" + std::to_string(exp_->port()) + path;
  }
  std::string Http(const std::string& path = "/metrics") const {
    return "http://127.0.0.1:" + std::to_string(exp_->port()) + path;
  }
  static std::string F(const std::string& name) { return Pki::Get().File(name); }
  static std::string ServerTls() {
    return "tls_server_config:\n  cert_file: " + F("server.crt") +
           "\n  key_file: " + F("server.key") + "\n";
  }
  static void ExpectMetrics(const CurlResult& r) {
    EXPECT_EQ(r.exit_code, 0) << r.output;
    EXPECT_EQ(r.status, 200) << r.output;
    EXPECT_NE(r.body.find("yunxiao_flow_up 1"), std::string::npos) << r.body.substr(0, 300);
    EXPECT_EQ(CheckExposition(r.body), "");
  }
  static void ExpectRefused(const CurlResult& r) {
    EXPECT_NE(r.exit_code, 0) << r.output;
    EXPECT_NE(r.status, 200) << r.output;
    EXPECT_EQ(r.body.find("yunxiao_flow"), std::string::npos);
  }

  TempDir dir_;
  std::unique_ptr<Simulator> sim_;
  std::unique_ptr<Exporter> exp_;
};

TEST_F(WebConfigTest, PlainHttpWithoutTls) {
  Start("");  // an empty web config: plain HTTP, no auth
  ExpectMetrics(Curl("", Http()));
  EXPECT_EQ(Curl("", Http("/-/healthy")).status, 200);
  ExpectRefused(Curl("--cacert " + F("ca.crt"), Https()));  // no TLS spoken here
  EXPECT_TRUE(exp_->process().WaitForOutput("tls=false basic_auth=false"));
}

TEST_F(WebConfigTest, HttpsWithTheCaCertificate) {
  Start(ServerTls());
  ExpectMetrics(Curl("--cacert " + F("ca.crt"), Https()));
  for (const std::string path : {"/", "/-/healthy", "/-/ready"}) {
    EXPECT_EQ(Curl("--cacert " + F("ca.crt"), Https(path)).status, 200) << path;
  }
  EXPECT_EQ(Curl("--cacert " + F("ca.crt"), Https("/nope")).status, 404);
  // An unknown issuer is refused by the client; plain HTTP gets no answer.
  auto untrusted = Curl("", Https());
  ExpectRefused(untrusted);
  EXPECT_EQ(untrusted.exit_code, 60) << untrusted.output;
  ExpectRefused(Curl("", Http()));
  EXPECT_TRUE(exp_->process().WaitForOutput("tls=true"));
  EXPECT_TRUE(exp_->process().Running());
}

TEST_F(WebConfigTest, ClientCertificateRequiredAndVerified) {
  Start(ServerTls() +
        "  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: " + F("ca.crt") + "\n");
  const std::string ca = "--cacert " + F("ca.crt");
  ExpectRefused(Curl(ca, Https()));  // no client certificate: the handshake fails
  ExpectRefused(Curl(ca + " --cert " + F("rogue.crt") + " --key " + F("rogue.key"), Https()));
  ExpectMetrics(Curl(ca + " --cert " + F("client.crt") + " --key " + F("client.key"), Https()));
  EXPECT_TRUE(exp_->process().Running());
}

// A client that offers a cached session (nginx, curl, Python, Java do) is served in every
// client_auth_type mode: resumed, or with a full handshake; never refused with an alert
// (audit finding 6: no session id context was set).
TEST_F(WebConfigTest, CachedTlsSessionsAreServedInEveryClientAuthMode) {
  for (const std::string mode : {"NoClientCert", "RequestClientCert", "RequireAnyClientCert",
                                 "VerifyClientCertIfGiven", "RequireAndVerifyClientCert"}) {
    for (const std::string version : {"-tls1_2", "-tls1_3"}) {
      SCOPED_TRACE(mode + " " + version);
      Start(ServerTls() + "  client_auth_type: " + mode + "\n  client_ca_file: " + F("ca.crt") +
            "\n");
      const std::string session = dir_.path() + "/session.pem";
      std::remove(session.c_str());
      const std::string base =
          "printf 'GET /-/healthy HTTP/1.0\\r\\n\\r\\n' | timeout 20 openssl "
          "s_client -ign_eof " +
          version + " -connect 127.0.0.1:" + std::to_string(exp_->port()) + " -CAfile " +
          F("ca.crt") + " -cert " + F("client.crt") + " -key " + F("client.key") + " ";
      std::string first, second;
      RunCommand(base + "-sess_out " + session + " 2>&1", &first);
      EXPECT_NE(first.find("HTTP/1.1 200"), std::string::npos) << first;
      ASSERT_FALSE(ReadFile(session).empty()) << first;
      RunCommand(base + "-sess_in " + session + " 2>&1", &second);
      EXPECT_NE(second.find("HTTP/1.1 200"), std::string::npos) << second;
      EXPECT_EQ(second.find("alert"), std::string::npos) << second;
      exp_.reset();
    }
  }
}

TEST_F(WebConfigTest, MinimumTlsVersionIsEnforced) {
  Start(ServerTls() + "  min_version: TLS13\n");
  const std::string ca = "--cacert " + F("ca.crt");
  ExpectRefused(Curl(ca + " --tlsv1.2 --tls-max 1.2", Https()));
  ExpectMetrics(Curl(ca + " --tlsv1.3", Https()));
}

TEST_F(WebConfigTest, MaximumTlsVersionIsEnforced) {
  Start(ServerTls() + "  max_version: TLS12\n");
  const std::string ca = "--cacert " + F("ca.crt");
  ExpectRefused(Curl(ca + " --tlsv1.3", Https()));
  ExpectMetrics(Curl(ca + " --tls-max 1.2", Https()));
}

TEST_F(WebConfigTest, BasicAuthRightWrongAndMissing) {
  Start("basic_auth_users:\n  prometheus: " + Bcrypt("s3cr3t-pa55") + "\n  other: " +
        Bcrypt("another") + "\nhttp_server_config:\n  headers:\n    X-Frame-Options: deny\n");
  for (const std::string path : {"/metrics", "/", "/-/healthy", "/-/ready", "/nope"}) {
    SCOPED_TRACE(path);
    for (const std::string creds :
         {"", "-u prometheus:wrong", "-u prometheus:", "-u nobody:s3cr3t-pa55",
          "-u other:s3cr3t-pa55", "-u prometheus:s3cr3t-pa55x", "-H 'Authorization: Basic !!'",
          "-H 'Authorization: Bearer s3cr3t-pa55'"}) {
      auto r = Curl(creds, Http(path));
      EXPECT_EQ(r.status, 401) << creds;
      EXPECT_NE(r.headers.find("WWW-Authenticate: Basic"), std::string::npos) << r.headers;
      EXPECT_EQ(r.body.find("yunxiao_flow"), std::string::npos);
    }
  }
  auto ok = Curl("-u prometheus:s3cr3t-pa55", Http());
  ExpectMetrics(ok);
  EXPECT_NE(ok.headers.find("X-Frame-Options: deny"), std::string::npos) << ok.headers;
  EXPECT_EQ(Curl("-u other:another", Http("/-/healthy")).status, 200);
  EXPECT_EQ(Curl("-u prometheus:s3cr3t-pa55", Http("/nope")).status, 404);
  // Reload is protected too.
  EXPECT_EQ(Curl("-X POST", Http("/-/reload")).status, 401);
  EXPECT_EQ(Curl("-X POST -u prometheus:s3cr3t-pa55", Http("/-/reload")).status, 200);
  // Repeated good logins are cached, bad ones never are.
  for (int i = 0; i < 20; ++i) {
    EXPECT_EQ(Curl("-u prometheus:s3cr3t-pa55", Http("/-/healthy")).status, 200);
    EXPECT_EQ(Curl("-u prometheus:wrong", Http("/-/healthy")).status, 401);
  }
  EXPECT_TRUE(exp_->process().WaitForOutput("basic_auth=true"));
}

TEST_F(WebConfigTest, BasicAuthOverHttpsWithAClientCertificate) {
  Start(ServerTls() + "  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: " +
        F("ca.crt") + "\nbasic_auth_users:\n  prometheus: " + Bcrypt("pw-over-tls") + "\n");
  const std::string tls =
      "--cacert " + F("ca.crt") + " --cert " + F("client.crt") + " --key " + F("client.key");
  EXPECT_EQ(Curl(tls, Https()).status, 401);
  EXPECT_EQ(Curl(tls + " -u prometheus:nope", Https()).status, 401);
  ExpectMetrics(Curl(tls + " -u prometheus:pw-over-tls", Https()));
  ExpectRefused(Curl("--cacert " + F("ca.crt") + " -u prometheus:pw-over-tls", Https()));
}

// Starting with a web config that cannot work: exit code 1, a message naming the problem,
// nothing served. --config.check finds the same problems.
TEST_F(WebConfigTest, InvalidWebConfigsExitWithAClearMessage) {
  const std::string config = dir_.Write("config.yaml", sim_->Config());
  const std::string missing = dir_.path() + "/missing.key";
  struct Case {
    std::string name, yaml, message;
  };
  const std::vector<Case> cases = {
      {"missing key file",
       "tls_server_config:\n  cert_file: " + F("server.crt") + "\n  key_file: " + missing + "\n",
       missing},
      {"missing cert file",
       "tls_server_config:\n  cert_file: " + dir_.path() +
           "/nope.crt\n  key_file: " + F("server.key") + "\n",
       "nope.crt"},
      {"key of another certificate",
       "tls_server_config:\n  cert_file: " + F("server.crt") + "\n  key_file: " + F("client.key") +
           "\n",
       "key_file"},
      {"missing client CA",
       ServerTls() + "  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: " +
           dir_.path() + "/nope-ca.crt\n",
       "nope-ca.crt"},
      {"client CA required", ServerTls() + "  client_auth_type: RequireAndVerifyClientCert\n",
       "client_ca_file"},
      {"unknown client auth type", ServerTls() + "  client_auth_type: Sometimes\n", "Sometimes"},
      {"bad version", ServerTls() + "  min_version: SSL3\n", "SSL3"},
      {"plaintext password", "basic_auth_users:\n  prometheus: hunter2\n", "bcrypt"},
      {"unknown key", "tls_server_config:\n  cert_file: a\n  key_file: b\n  ciphers: x\n",
       "ciphers"},
      {"broken yaml", "tls_server_config: [", "web.yml"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    const std::string web = dir_.Write("web.yml", c.yaml);
    Process p({YFE_EXPORTER_BIN, "--config.file=" + config, "--web.config.file=" + web,
               "--web.listen-address=127.0.0.1:0"},
              {{"YUNXIAO_TOKEN", kSimToken}});
    EXPECT_EQ(p.Wait(20s), 1) << p.Stderr();
    EXPECT_NE(p.Stderr().find(c.message), std::string::npos) << p.Stderr();
    EXPECT_EQ(p.Stderr().find("msg=listening"), std::string::npos) << p.Stderr();
    Process check(
        {YFE_EXPORTER_BIN, "--config.check", "--config.file=" + config, "--web.config.file=" + web},
        {{"YUNXIAO_TOKEN", kSimToken}});
    EXPECT_EQ(check.Wait(20s), 1) << check.Stdout();
    EXPECT_NE(check.Stdout().find(c.message), std::string::npos) << check.Stdout();
  }
  Process no_file(
      {YFE_EXPORTER_BIN, "--config.file=" + config,
       "--web.config.file=" + dir_.path() + "/absent.yml", "--web.listen-address=127.0.0.1:0"},
      {{"YUNXIAO_TOKEN", kSimToken}});
  EXPECT_EQ(no_file.Wait(20s), 1);
  EXPECT_NE(no_file.Stderr().find("absent.yml"), std::string::npos) << no_file.Stderr();
}

// ---- TLS towards the Flow API ----

// openssl s_server -WWW serves files under its working directory over HTTPS.
class HttpsUpstream {
 public:
  explicit HttpsUpstream(const std::string& run_json) {
    std::filesystem::create_directories(dir_.path() + "/oapi/v1/flow/pipelines/1/runs");
    dir_.Write("oapi/v1/flow/pipelines/1/runs/latestPipelineRun", run_json);
    process_ = std::make_unique<Process>(std::vector<std::string>{
        "/bin/sh", "-c",
        "cd " + dir_.path() + " && exec openssl s_server -WWW -accept 127.0.0.1:0 -cert " +
            Pki::Get().File("upstream.crt") + " -key " + Pki::Get().File("upstream.key")});
    port_ = process_->WaitForPort("ACCEPT 127.0.0.1:");
  }
  int port() const { return port_; }
  std::string Endpoint() const { return "https://127.0.0.1:" + std::to_string(port_); }
  Process& process() { return *process_; }

 private:
  TempDir dir_;
  std::unique_ptr<Process> process_;
  int port_ = 0;
};

TEST(UpstreamTls, SelfSignedCertificateNeedsTlsCaFile) {
  ASSERT_EQ(Pki::Get().error(), "");
  HttpsUpstream upstream(
      R"({"status":"SUCCESS","pipelineRunId":77,"triggerMode":1,"createTime":1795000000000,)"
      R"("stages":[]})");
  ASSERT_GT(upstream.port(), 0) << upstream.process().Stdout() << upstream.process().Stderr();
  const std::string config = "api:\n  endpoint: " + upstream.Endpoint() +
                             "\n  edition: region\n  max_retries: 0\n  timeout: 5s\n";
  const std::string pipelines = "pipelines:\n  - id: \"1\"\n    name: over-tls\n";

  {
    Exporter exp(config + pipelines);  // the system store does not know the certificate
    ASSERT_TRUE(exp.started()) << exp.process().Stderr();
    std::string text = exp.Scrape();
    EXPECT_EQ(Value(text, "yunxiao_flow_fetch_success"), 0);
    EXPECT_EQ(Value(text, "yunxiao_flow_up"), 0);
    EXPECT_GE(Value(text, "yunxiao_flow_api_requests_total", {"code=\"error\""}), 1);
    EXPECT_TRUE(exp.process().WaitForOutput("certificate")) << exp.process().Stderr();
    EXPECT_NE(exp.process().Stderr().find("msg=\"fetch failed\" pipeline_id=1"), std::string::npos)
        << exp.process().Stderr();
    EXPECT_EQ(PromtoolProblems(text), "");
  }
  {
    // A CA file that did not sign it does not help either.
    Exporter exp(config + "  tls_ca_file: " + Pki::Get().File("ca.crt") + "\n" + pipelines);
    ASSERT_TRUE(exp.started()) << exp.process().Stderr();
    EXPECT_EQ(Value(exp.Scrape(), "yunxiao_flow_fetch_success"), 0);
  }
  {
    Exporter exp(config + "  tls_ca_file: " + Pki::Get().File("upstream.crt") + "\n" + pipelines);
    ASSERT_TRUE(exp.started()) << exp.process().Stderr();
    std::string text = exp.Scrape();
    EXPECT_EQ(Value(text, "yunxiao_flow_fetch_success"), 1) << exp.process().Stderr();
    EXPECT_EQ(Value(text, "yunxiao_flow_latest_run_id"), 77);
    EXPECT_EQ(Value(text, "yunxiao_flow_latest_run_status", {"status=\"SUCCESS\""}), 1);
    EXPECT_EQ(Value(text, "yunxiao_flow_up"), 1);
    EXPECT_GE(Value(text, "yunxiao_flow_api_requests_total", {"code=\"200\""}), 1);
  }
}

// --api.check's first line says what to do about a certificate the system does not trust.
TEST(UpstreamTls, ApiCheckNamesTlsCaFileForAnUntrustedCertificate) {
  ASSERT_EQ(Pki::Get().error(), "");
  HttpsUpstream upstream(R"({"status":"SUCCESS","pipelineRunId":77,"stages":[]})");
  ASSERT_GT(upstream.port(), 0) << upstream.process().Stderr();
  TempDir dir;
  const std::string config = dir.Write(
      "c.yaml", "api:\n  endpoint: " + upstream.Endpoint() +
                    "\n  edition: region\n  max_retries: 0\n  timeout: 5s\npipelines: [\"1\"]\n");
  std::string out;
  const int code =
      RunCommand("env YUNXIAO_TOKEN=tls-token-123456 timeout 60 " + std::string(YFE_EXPORTER_BIN) +
                     " --api.check --config.file=" + config,
                 &out);
  EXPECT_EQ(code, 1) << out;
  EXPECT_NE(out.find("✘ API not reachable at " + upstream.Endpoint()), std::string::npos) << out;
  EXPECT_NE(out.find("fix: the TLS handshake failed"), std::string::npos) << out;
  EXPECT_NE(out.find("api.tls_ca_file"), std::string::npos) << out;
}

}  // namespace
}  // namespace yfe::testing
