// libFuzzer target: repository URL credential stripping. The fuzzer builds a URL around a
// password it knows, in one of the forms the API may report, and asserts that the
// stripped URL contains neither the password nor its percent-encoded form. Any survival
// is a finding (abort).
//   scripts/fuzz.sh 60      (runs this target after decode_fuzz)
#include <fuzzer/FuzzedDataProvider.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "model/repo_url.h"

namespace {

// Reserved characters are the interesting ones; the rest keeps the URL readable.
constexpr char kAlphabet[] = "/?#@:%&=;+ .-_~[]!$'()*,abcXYZ019";

std::string Pick(FuzzedDataProvider& in, size_t max) {
  std::string s;
  size_t n = in.ConsumeIntegralInRange<size_t>(0, max);
  for (size_t i = 0; i < n && in.remaining_bytes() > 0; ++i) {
    s += in.ConsumeBool() ? kAlphabet[in.ConsumeIntegralInRange<size_t>(0, sizeof kAlphabet - 2)]
                          : static_cast<char>(in.ConsumeIntegral<uint8_t>());
  }
  return s;
}

std::string PercentEncode(const std::string& s) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    out += '%';
    out += hex[c >> 4];
    out += hex[c & 15];
  }
  return out;
}

void Fail(const std::string& url, const std::string& out, const char* what) {
  std::fprintf(stderr, "%s survived:\n  in:  %s\n  out: %s\n", what, url.c_str(), out.c_str());
  std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  FuzzedDataProvider in(data, size);
  // The marker starts the password, so a survivor is unambiguous; the fuzzed tail may
  // hold any character, reserved ones included.
  const std::string marker = "Zq7SECRETpw";
  const std::string password = marker + Pick(in, 24);
  const bool encoded = in.ConsumeBool();
  const std::string secret = encoded ? PercentEncode(password) : password;
  const std::string scheme =
      in.PickValueInArray<const char*>({"https://", "http://", "ssh://", "git+ssh://", "//", ""});
  const std::string user = Pick(in, 8);
  const std::string host = Pick(in, 16);
  const std::string path = Pick(in, 24);
  const std::string extra = Pick(in, 16);
  std::string url;
  switch (in.ConsumeIntegralInRange<int>(0, 4)) {
    case 0:  // userinfo with a password
      url = scheme + user + ":" + secret + "@" + host + "/" + path;
      break;
    case 1:  // the token as the user name
      url = scheme + secret + "@" + host + "/" + path;
      break;
    case 2:  // scp-like
      url = user + ":" + secret + "@" + host + ":" + path;
      break;
    case 3:  // a token in the query
      url = scheme + host + "/" + path +
            in.PickValueInArray<const char*>(
                {"?private_token=", "?access_token=", "?token=", "?password=", "?a=1&token="}) +
            secret + extra;
      break;
    default:  // a token in the fragment
      url = scheme + host + "/" + path + "#access_token=" + secret + extra;
      break;
  }
  const std::string out = yfe::model::StripRepoCredentials(url);
  if (out.find(marker) != std::string::npos) Fail(url, out, "the password");
  if (out.find(PercentEncode(marker)) != std::string::npos) Fail(url, out, "the encoded password");
  return 0;
}
