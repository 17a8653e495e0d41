#include "render/tree_writer.h"

#include <pugixml.hpp>
#include <rapidjson/prettywriter.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <cstdint>
#include <cstring>
#include <sstream>
#include <type_traits>
#include <vector>

#include "common/json.h"

namespace restd::render {

std::string_view xmlItemName(std::string_view key) {
  if (key == "failures") return "failure";
  if (key == "errors") return "error";
  if (key == "details") return "detail";
  return "item";
}

void TreeWriter::value(const rapidjson::Value& v, std::string_view arrayItemName) {
  switch (v.GetType()) {
    case rapidjson::kNullType: null(); break;
    case rapidjson::kFalseType: boolean(false); break;
    case rapidjson::kTrueType: boolean(true); break;
    case rapidjson::kStringType: string(std::string_view(v.GetString(), v.GetStringLength())); break;
    case rapidjson::kNumberType:
      if (v.IsInt64()) integer(v.GetInt64());
      else if (v.IsUint64()) number(static_cast<double>(v.GetUint64()));
      else number(v.GetDouble());
      break;
    case rapidjson::kObjectType:
      startObject();
      for (auto& m : v.GetObject()) {
        std::string_view k(m.name.GetString(), m.name.GetStringLength());
        key(k);
        memberValue(k, m.value);
      }
      endObject();
      break;
    case rapidjson::kArrayType:
      startArray(arrayItemName);
      for (auto& e : v.GetArray()) value(e, "item");
      endArray();
      break;
  }
}

void TreeWriter::memberValue(std::string_view key, const rapidjson::Value& v) {
  value(v, v.IsArray() ? xmlItemName(key) : std::string_view());
}

namespace {

template <typename Writer>
class JsonWriter final : public TreeWriter {
 public:
  // 1 KiB up front: a typical single-record reply fits without regrowing.
  explicit JsonWriter(bool pretty) : sb_(nullptr, 1024), w_(sb_), pretty_(pretty) {
    if constexpr (!std::is_same_v<Writer, rapidjson::Writer<rapidjson::StringBuffer>>) w_.SetIndent(' ', 2);
  }
  void startObject() override { w_.StartObject(); }
  void endObject() override { w_.EndObject(); }
  void startArray(std::string_view) override { w_.StartArray(); }
  void endArray() override { w_.EndArray(); }
  void key(std::string_view k) override { text(k); }
  void string(std::string_view s) override { text(s); }
  void integer(int64_t v) override { w_.Int64(v); }
  void number(double v) override { w_.Double(v); }
  void boolean(bool v) override { w_.Bool(v); }
  void null() override { w_.Null(); }
  std::string finish() override {
    std::string out(sb_.GetString(), sb_.GetSize());
    if (pretty_) out += '\n';
    return out;
  }
  // The compact writer, the one nearly every reply uses, stays for this
  // thread's next reply with its buffer and nesting stack (three to eight
  // allocations each time otherwise), unless a big reply grew the buffer.
  void recycle() override {
    if constexpr (std::is_same_v<Writer, rapidjson::Writer<rapidjson::StringBuffer>>) {
      std::unique_ptr<JsonWriter>& spare = spareCompact();
      if (!spare && sb_.GetSize() <= kKeptBytes) {
        sb_.Clear();
        w_.Reset(sb_);
        spare.reset(this);
        return;
      }
    }
    delete this;
  }
  static std::unique_ptr<JsonWriter>& spareCompact() {
    thread_local std::unique_ptr<JsonWriter> spare;
    return spare;
  }

 private:
  // A key or a string. RapidJSON's writer looks at each character on its
  // own (about 14 instructions a character, most of a list's rendering);
  // text that needs no escape, nearly all of it, is copied whole after the
  // separator the writer puts before it (RawValue of nothing).
  void text(std::string_view s) {
    if (needsJsonEscape(s)) {
      w_.String(s.data(), static_cast<rapidjson::SizeType>(s.size()));
      return;
    }
    w_.RawValue("", 0, rapidjson::kStringType);
    char* out = sb_.Push(s.size() + 2);
    out[0] = '"';
    if (!s.empty()) std::memcpy(out + 1, s.data(), s.size());
    out[s.size() + 1] = '"';
  }

  static constexpr size_t kKeptBytes = 64 * 1024;
  rapidjson::StringBuffer sb_;
  Writer w_;
  bool pretty_;
};

bool isXmlName(std::string_view k) {
  if (k.empty()) return false;
  auto start = [](char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; };
  if (!start(k[0])) return false;
  for (char c : k)
    if (!(start(c) || (c >= '0' && c <= '9') || c == '-' || c == '.')) return false;
  if (k.size() >= 3 && (k[0] == 'x' || k[0] == 'X') && (k[1] == 'm' || k[1] == 'M') && (k[2] == 'l' || k[2] == 'L'))
    return false;
  return true;
}

// XML 1.0 cannot carry C0 controls other than tab, LF and CR: they become U+FFFD.
std::string xmlText(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    auto u = static_cast<unsigned char>(c);
    if (u < 0x20 && u != '\t' && u != '\n' && u != '\r') out += "\xEF\xBF\xBD";
    else out += c;
  }
  return out;
}

class XmlWriter final : public TreeWriter {
 public:
  XmlWriter(std::string_view root, std::string_view xmlns, bool pretty) : pretty_(pretty) {
    auto decl = doc_.append_child(pugi::node_declaration);
    decl.append_attribute("version") = "1.0";
    decl.append_attribute("encoding") = "UTF-8";
    root_ = doc_.append_child(std::string(root).c_str());
    if (!xmlns.empty()) root_.append_attribute("xmlns") = std::string(xmlns).c_str();
  }

  void startObject() override {
    if (stack_.empty()) {
      stack_.push_back({root_, false, {}});
      return;
    }
    stack_.push_back({child(), false, {}});
  }
  void endObject() override { stack_.pop_back(); }
  void startArray(std::string_view itemName) override {
    if (stack_.empty()) {
      stack_.push_back({root_, true, std::string(itemName)});
      return;
    }
    stack_.push_back({child(), true, std::string(itemName)});
  }
  void endArray() override { stack_.pop_back(); }
  void key(std::string_view k) override { pendingKey_ = std::string(k); }
  void string(std::string_view s) override { child().text().set(xmlText(s).c_str()); }
  void integer(int64_t v) override { child().text().set(static_cast<long long>(v)); }
  void number(double v) override {
    rapidjson::StringBuffer sb;
    rapidjson::Writer<rapidjson::StringBuffer> w(sb);
    w.Double(v);
    child().text().set(sb.GetString());
  }
  void boolean(bool v) override { child().text().set(v ? "true" : "false"); }
  void null() override { child().append_attribute("nil") = "true"; }
  std::string finish() override {
    std::ostringstream os;
    if (pretty_) doc_.save(os, "  ", pugi::format_indent, pugi::encoding_utf8);
    else doc_.save(os, "", pugi::format_raw, pugi::encoding_utf8);
    return os.str();
  }

 private:
  struct Frame {
    pugi::xml_node node;
    bool isArray;
    std::string itemName;
  };

  // A new element for the next value: named by the pending key in an object,
  // by the array's item name in an array.
  pugi::xml_node child() {
    if (stack_.empty()) return root_;  // a scalar as the whole document
    Frame& f = stack_.back();
    if (f.isArray) return f.node.append_child(f.itemName.c_str());
    if (isXmlName(pendingKey_)) return f.node.append_child(pendingKey_.c_str());
    auto e = f.node.append_child("entry");
    e.append_attribute("key") = xmlText(pendingKey_).c_str();
    return e;
  }

  pugi::xml_document doc_;
  pugi::xml_node root_;
  bool pretty_;
  std::vector<Frame> stack_;
  std::string pendingKey_;
};

}  // namespace

TreeWriterPtr makeJsonWriter(bool pretty) {
  if (pretty) return TreeWriterPtr(new JsonWriter<rapidjson::PrettyWriter<rapidjson::StringBuffer>>(true));
  using Compact = JsonWriter<rapidjson::Writer<rapidjson::StringBuffer>>;
  if (auto& spare = Compact::spareCompact()) return TreeWriterPtr(spare.release());
  return TreeWriterPtr(new Compact(false));
}
TreeWriterPtr makeXmlWriter(std::string_view root, std::string_view xmlns, bool pretty) {
  return TreeWriterPtr(new XmlWriter(root, xmlns, pretty));
}

}  // namespace restd::render
