// Raw HTTP over TCP to 127.0.0.1, for requests no well-behaved client would send (header
// floods, trickled bytes, clients that never read) and for reading exactly what a server
// answered.
//
// Thread-safe: every function works on its own socket.
#pragma once

#include <chrono>
#include <string>
#include <string_view>

namespace yfe::testing {

// A connected socket to 127.0.0.1:port (with SO_RCVBUF set when rcvbuf > 0), or -1.
int Connect(int port, int rcvbuf = 0);

// Sends all of `data`; false when the peer stopped taking it.
bool SendAll(int fd, std::string_view data);

// One HTTP response (head + Content-Length body), or whatever arrives before the peer
// closes or the timeout passes.
std::string ReadResponse(int fd, std::chrono::milliseconds timeout);

// The status code of a raw response ("HTTP/1.x NNN ..."), 0 if there is none.
int StatusOf(const std::string& response);

}  // namespace yfe::testing
