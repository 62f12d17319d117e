// YFE_SANITIZED: 1 in an AddressSanitizer or ThreadSanitizer build (gcc or clang), else 0.
// Such builds keep freed memory in quarantine and shadow (RSS says nothing there), and their
// runtimes cannot be trusted in a child forked from a multi-threaded process.
//
//   if (!YFE_SANITIZED) EXPECT_LT(rss_after - rss_before, 4 * 1024);
#pragma once

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define YFE_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define YFE_SANITIZED 1
#endif
#endif
#ifndef YFE_SANITIZED
#define YFE_SANITIZED 0
#endif
