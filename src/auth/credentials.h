// Secrets: password hashing (argon2id), random tokens and keys, hashes of
// them for storage, constant-time comparison. All on libsodium; thread-safe.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace restd::auth {

// Call once before any other function here (initialises libsodium).
bool initCrypto();

// argon2id in libsodium's self-describing string format. Slow on purpose
// (~0.1 s, 64 MiB): never call it on an I/O thread.
std::optional<std::string> hashPassword(std::string_view password);
bool verifyPassword(const std::string& hash, std::string_view password);

// `bytes` random bytes as lowercase hex (an access token is 20 bytes: 40 hex).
std::string randomHex(size_t bytes);
// SHA-256 of `text` as lowercase hex: how tokens and API keys are stored.
std::string sha256Hex(std::string_view text);
// Constant-time equality of two strings of the same length.
bool constantTimeEquals(std::string_view a, std::string_view b);

// True when `token` has the shape of an access token (40 lowercase hex).
bool looksLikeToken(std::string_view token);

}  // namespace restd::auth
