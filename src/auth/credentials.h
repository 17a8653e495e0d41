// Secrets: password hashing (argon2id), random tokens and keys, and the
// hashes they are stored and looked up by. All on libsodium; thread-safe.
//
// No secret is ever compared in memory: passwords are checked by
// crypto_pwhash_str_verify (constant time), and tokens and API keys are found
// by the SHA-256 of the value sent, so lookup timing says nothing about them.
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

// True when `token` has the shape of an access token (40 lowercase hex).
bool looksLikeToken(std::string_view token);

}  // namespace restd::auth
