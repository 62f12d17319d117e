#include "support/raw_http.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <regex>

namespace yfe::testing {

int Connect(int port, int rcvbuf) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  if (rcvbuf > 0) setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

bool SendAll(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n <= 0) return false;
    data.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

std::string ReadResponse(int fd, std::chrono::milliseconds timeout) {
  using Clock = std::chrono::steady_clock;
  std::string got;
  auto end = Clock::now() + timeout;
  while (Clock::now() < end) {
    pollfd p{fd, POLLIN, 0};
    int left = static_cast<int>(
        std::chrono::duration_cast<std::chrono::milliseconds>(end - Clock::now()).count());
    if (poll(&p, 1, std::max(left, 1)) <= 0) break;
    char buf[65536];
    ssize_t n = recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    got.append(buf, static_cast<size_t>(n));
    auto head_end = got.find("\r\n\r\n");
    if (head_end != std::string::npos) {
      // Compiled once: compiling std::regex on several threads races in libstdc++'s ctype
      // cache (TSan reports it).
      static const std::regex kContentLength("Content-Length: (\\d+)", std::regex::icase);
      std::smatch m;
      std::string head = got.substr(0, head_end);
      if (std::regex_search(head, m, kContentLength) &&
          got.size() >= head_end + 4 + std::stoul(m[1])) {
        break;
      }
    }
  }
  return got;
}

int StatusOf(const std::string& response) {
  if (!response.starts_with("HTTP/1.") || response.size() < 12) return 0;
  return std::atoi(response.c_str() + 9);
}

}  // namespace yfe::testing
