// msgpack adaptor for std::any, so that std::vector<std::any> (a heterogeneous
// msgpack array) can be sent and received.
//
// Decoding maps msgpack types to: positive int -> uint64_t, negative int ->
// int64_t, float32/float64 -> double, str -> std::string, bin ->
// std::vector<char>, bool -> bool, nil -> empty std::any, array ->
// std::vector<std::any>. Encoding accepts those types plus the other
// built-in integer and floating types, const char*, and std::vector<std::any>.
//
// Public header: must stay valid C++17.
#pragma once

#include <msgpack.hpp>

#include <any>
#include <cstdint>
#include <string>
#include <typeinfo>
#include <vector>

namespace msgpack {
MSGPACK_API_VERSION_NAMESPACE(MSGPACK_DEFAULT_API_NS) {
  namespace adaptor {

  template <>
  struct pack<std::any> {
    template <typename Stream>
    msgpack::packer<Stream> &operator()(msgpack::packer<Stream> &o, const std::any &v) const {
      const std::type_info &t = v.type();
      if (!v.has_value()) {
        o.pack_nil();
      } else if (t == typeid(uint64_t)) {
        o.pack(std::any_cast<uint64_t>(v));
      } else if (t == typeid(int64_t)) {
        o.pack(std::any_cast<int64_t>(v));
      } else if (t == typeid(int)) {
        o.pack(std::any_cast<int>(v));
      } else if (t == typeid(unsigned int)) {
        o.pack(std::any_cast<unsigned int>(v));
      } else if (t == typeid(long)) {
        o.pack(std::any_cast<long>(v));
      } else if (t == typeid(unsigned long)) {
        o.pack(std::any_cast<unsigned long>(v));
      } else if (t == typeid(long long)) {
        o.pack(std::any_cast<long long>(v));
      } else if (t == typeid(unsigned long long)) {
        o.pack(std::any_cast<unsigned long long>(v));
      } else if (t == typeid(short)) {
        o.pack(std::any_cast<short>(v));
      } else if (t == typeid(unsigned short)) {
        o.pack(std::any_cast<unsigned short>(v));
      } else if (t == typeid(signed char)) {
        o.pack(std::any_cast<signed char>(v));
      } else if (t == typeid(unsigned char)) {
        o.pack(std::any_cast<unsigned char>(v));
      } else if (t == typeid(char)) {
        o.pack(std::any_cast<char>(v));
      } else if (t == typeid(double)) {
        o.pack(std::any_cast<double>(v));
      } else if (t == typeid(float)) {
        o.pack(std::any_cast<float>(v));
      } else if (t == typeid(bool)) {
        o.pack(std::any_cast<bool>(v));
      } else if (t == typeid(std::string)) {
        o.pack(std::any_cast<const std::string &>(v));
      } else if (t == typeid(const char *)) {
        o.pack(std::any_cast<const char *>(v));
      } else if (t == typeid(char *)) {
        o.pack(static_cast<const char *>(std::any_cast<char *>(v)));
      } else if (t == typeid(std::vector<char>)) {
        o.pack(std::any_cast<const std::vector<char> &>(v));
      } else if (t == typeid(std::vector<std::any>)) {
        const auto &items = std::any_cast<const std::vector<std::any> &>(v);
        o.pack_array(static_cast<uint32_t>(items.size()));
        for (const auto &item : items) {
          (*this)(o, item);
        }
      } else {
        throw msgpack::type_error();
      }
      return o;
    }
  };

  template <>
  struct convert<std::any> {
    const msgpack::object &operator()(const msgpack::object &o, std::any &v) const {
      switch (o.type) {
        case msgpack::type::NIL:
          v.reset();
          break;
        case msgpack::type::BOOLEAN:
          v = o.as<bool>();
          break;
        case msgpack::type::POSITIVE_INTEGER:
          v = o.as<uint64_t>();
          break;
        case msgpack::type::NEGATIVE_INTEGER:
          v = o.as<int64_t>();
          break;
        case msgpack::type::FLOAT32:
        case msgpack::type::FLOAT64:
          v = o.as<double>();
          break;
        case msgpack::type::STR:
          v = o.as<std::string>();
          break;
        case msgpack::type::BIN:
          v = o.as<std::vector<char>>();
          break;
        case msgpack::type::ARRAY: {
          std::vector<std::any> items(o.via.array.size);
          for (uint32_t i = 0; i < o.via.array.size; ++i) {
            (*this)(o.via.array.ptr[i], items[i]);
          }
          v = std::move(items);
          break;
        }
        default:
          throw msgpack::type_error();
      }
      return o;
    }
  };

  }  // namespace adaptor
}  // MSGPACK_API_VERSION_NAMESPACE(MSGPACK_DEFAULT_API_NS)
}  // namespace msgpack
