// One layout, two formats: a profile describes its envelope as a tree of
// calls on a TreeWriter, and the writer produces JSON or XML (SPEC §6 "XML
// layout"). A TreeWriter is single-use and not thread-safe; TreeWriterPtr
// hands it back (recycle()) when its owner is done.
#pragma once

#include <rapidjson/document.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace restd::render {

class TreeWriter {
 public:
  virtual ~TreeWriter() = default;
  virtual void startObject() = 0;
  virtual void endObject() = 0;
  // `itemName` names each element in XML (a collection's singular, "failure",
  // "error", "detail" or "item"); JSON ignores it.
  virtual void startArray(std::string_view itemName) = 0;
  virtual void endArray() = 0;
  virtual void key(std::string_view k) = 0;
  virtual void string(std::string_view s) = 0;
  virtual void integer(int64_t v) = 0;
  virtual void number(double v) = 0;
  virtual void boolean(bool v) = 0;
  virtual void null() = 0;
  // Finishes and returns the document.
  virtual std::string finish() = 0;

  // Writes a JSON value (a record, nested user data). Arrays inside are named
  // by the XML rule for their key; `arrayItemName` names `v`'s items when it
  // is an array.
  void value(const rapidjson::Value& v, std::string_view arrayItemName = "item");
  // Writes `v`, the value of a member named `key` (written before it): an
  // array's items are named by the XML rule for the key, worked out only
  // for arrays (this runs for every member of every record).
  void memberValue(std::string_view key, const rapidjson::Value& v);

  // Called instead of delete: a writer may keep itself for the next reply
  // on this thread (the compact JSON writer does, with its buffers).
  virtual void recycle() { delete this; }
};

struct TreeWriterRecycler {
  void operator()(TreeWriter* w) const { w->recycle(); }
};
using TreeWriterPtr = std::unique_ptr<TreeWriter, TreeWriterRecycler>;

// The XML element name for the items of an array stored under `key`.
std::string_view xmlItemName(std::string_view key);

// `pretty`: indented by two spaces, ending in a newline (for people and
// terminals); otherwise compact, with no whitespace at all.
TreeWriterPtr makeJsonWriter(bool pretty = false);
// `root` is the document element; `xmlns` its namespace ("" for none).
TreeWriterPtr makeXmlWriter(std::string_view root, std::string_view xmlns, bool pretty = false);

}  // namespace restd::render
