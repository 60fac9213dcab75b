// docs/openapi.yaml describes exactly the routes the server answers: every
// route and method of api_routes() is in it, and it names no other; and
// every answer it describes carries X-Request-ID, as Api::Reply sets it. (That
// the server's answers match the document, statuses, headers and bodies, is
// scripts/conformance's part, against a live replica.)
#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <set>
#include <string>
#include <utility>

#include "http/api.h"

namespace kvstream::http {
namespace {

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

YAML::Node load() { return YAML::LoadFile(KVSTREAM_OPENAPI_PATH); }

TEST(OpenApi, IsAnOpenApi3DocumentWithPaths) {
  const YAML::Node doc = load();
  EXPECT_EQ(doc["openapi"].as<std::string>().substr(0, 2), "3.");
  ASSERT_TRUE(doc["paths"].IsMap());
}

TEST(OpenApi, DescribesEveryRouteAndMethodTheServerAnswers) {
  const YAML::Node paths = load()["paths"];
  for (const RouteSpec& route : api_routes()) {
    const YAML::Node path = paths[route.path];
    ASSERT_TRUE(path.IsMap()) << route.path << " is not in docs/openapi.yaml";
    for (const std::string& method : route.methods) {
      const YAML::Node op = path[lower(method)];
      ASSERT_TRUE(op.IsMap()) << method << " " << route.path << " is not in docs/openapi.yaml";
      EXPECT_TRUE(op["responses"].IsMap()) << method << " " << route.path << " has no responses";
    }
  }
}

TEST(OpenApi, NamesNoRouteOrMethodTheServerDoesNotAnswer) {
  const std::set<std::string> verbs = {"get", "head", "put", "delete", "post", "patch", "options"};
  for (const auto& entry : load()["paths"]) {
    const std::string path = entry.first.as<std::string>();
    auto route = std::find_if(api_routes().begin(), api_routes().end(),
                              [&](const RouteSpec& r) { return r.path == path; });
    ASSERT_NE(route, api_routes().end()) << "docs/openapi.yaml has " << path;
    for (const auto& op : entry.second) {
      const std::string name = op.first.as<std::string>();
      if (verbs.count(name) == 0) continue;  // parameters, summary, ...
      EXPECT_TRUE(std::any_of(route->methods.begin(), route->methods.end(),
                              [&](const std::string& m) { return lower(m) == name; }))
          << "docs/openapi.yaml has " << name << " " << path;
    }
  }
}

// The response object `node` stands for: itself, or the components entry
// its $ref names ("#/components/responses/<name>"), and that name.
std::pair<YAML::Node, std::string> resolve_response(const YAML::Node& doc, const YAML::Node& node) {
  if (!node["$ref"]) return {node, ""};
  const std::string ref = node["$ref"].as<std::string>();
  const std::string prefix = "#/components/responses/";
  EXPECT_EQ(ref.substr(0, prefix.size()), prefix) << ref;
  const std::string name = ref.substr(prefix.size());
  return {doc["components"]["responses"][name], name};
}

TEST(OpenApi, EveryAnswerOfARouteCarriesTheRequestId) {
  const YAML::Node doc = load();
  for (const auto& path : doc["paths"]) {
    for (const auto& op : path.second) {
      const std::string method = op.first.as<std::string>();
      if (method == "parameters") continue;
      for (const auto& response : op.second["responses"]) {
        const auto [resolved, name] = resolve_response(doc, response.second);
        // Answered before the request is read whole, by the server itself.
        if (name == "BodyTooLarge") continue;
        EXPECT_TRUE(resolved["headers"] && resolved["headers"]["X-Request-ID"])
            << method << " " << path.first.as<std::string>() << " "
            << response.first.as<std::string>() << " does not declare X-Request-ID";
      }
    }
  }
}

}  // namespace
}  // namespace kvstream::http
