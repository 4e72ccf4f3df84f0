// The HTTPS/WSS listener with a certificate the test makes itself.
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <unistd.h>

#include <atomic>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>
#include <catch2/catch.hpp>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>

#include "shoppulse/core/metrics.hpp"
#include "shoppulse/http/http_server.hpp"

namespace {

namespace net = boost::asio;
namespace ssl = boost::asio::ssl;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
namespace websocket = boost::beast::websocket;
using net::ip::tcp;

// A self-signed P-256 certificate for 127.0.0.1, written as PEM files into a
// fresh directory removed afterwards.
class TestCertificate {
 public:
  TestCertificate() {
    static std::atomic<int> counter{0};
    dir_ = std::filesystem::temp_directory_path() /
           ("shoppulse-tls-" + std::to_string(::getpid()) + "-" + std::to_string(counter++));
    std::filesystem::create_directories(dir_);
    EVP_PKEY* key = EVP_EC_gen("P-256");
    REQUIRE(key != nullptr);
    X509* cert = X509_new();
    X509_set_version(cert, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(cert), 1);
    X509_gmtime_adj(X509_getm_notBefore(cert), -60);
    X509_gmtime_adj(X509_getm_notAfter(cert), 3600);
    X509_set_pubkey(cert, key);
    X509_NAME* name = X509_get_subject_name(cert);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>("127.0.0.1"), -1, -1, 0);
    X509_set_issuer_name(cert, name);
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, cert, cert, nullptr, nullptr, 0);
    X509_EXTENSION* san = X509V3_EXT_conf_nid(nullptr, &ctx, NID_subject_alt_name, "IP:127.0.0.1");
    REQUIRE(san != nullptr);
    X509_add_ext(cert, san, -1);
    X509_EXTENSION_free(san);
    REQUIRE(X509_sign(cert, key, EVP_sha256()) > 0);
    FILE* c = std::fopen(cert_path().c_str(), "w");
    PEM_write_X509(c, cert);
    std::fclose(c);
    FILE* k = std::fopen(key_path().c_str(), "w");
    PEM_write_PrivateKey(k, key, nullptr, nullptr, 0, nullptr, nullptr);
    std::fclose(k);
    X509_free(cert);
    EVP_PKEY_free(key);
  }
  ~TestCertificate() {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);  // deliberately ignored: best effort
  }
  std::string cert_path() const { return (dir_ / "cert.pem").string(); }
  std::string key_path() const { return (dir_ / "key.pem").string(); }
  std::string cert_pem() const {
    std::ifstream in(cert_path());
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
  }

 private:
  std::filesystem::path dir_;
};

class EchoHandler : public shoppulse::api::Handler {
 public:
  void handle(shoppulse::api::ApiRequest request, shoppulse::api::Respond respond) override {
    shoppulse::api::ApiResponse r;
    r.body = R"({"path":")" + request.path + R"("})";
    respond(std::move(r));
  }
};

struct TlsServer {
  explicit TlsServer(const TestCertificate& cert) {
    shoppulse::HttpConfig config;
    config.host = "127.0.0.1";
    config.port = 0;
    config.ws_interval_ms = 20;
    config.tls_cert = cert.cert_path();
    config.tls_key = cert.key_path();
    server = std::make_unique<shoppulse::HttpServer>(
        config, handler, [] { return std::make_shared<const std::string>("tick"); }, metrics);
    auto started = server->start();
    REQUIRE(started);
  }
  shoppulse::MetricsRegistry metrics;
  EchoHandler handler;
  std::unique_ptr<shoppulse::HttpServer> server;
};

ssl::context client_context(const TestCertificate& cert) {
  ssl::context ctx(ssl::context::tls_client);
  const std::string pem = cert.cert_pem();
  ctx.add_certificate_authority(net::buffer(pem));
  ctx.set_verify_mode(ssl::verify_peer);
  return ctx;
}

}  // namespace

TEST_CASE("with a certificate the server answers HTTPS that verifies against it", "[http][tls]") {
  TestCertificate cert;
  TlsServer s(cert);
  net::io_context ioc;
  ssl::context ctx = client_context(cert);
  beast::ssl_stream<beast::tcp_stream> stream(ioc, ctx);
  stream.set_verify_callback(ssl::host_name_verification("127.0.0.1"));
  beast::get_lowest_layer(stream).expires_after(std::chrono::seconds(20));
  beast::get_lowest_layer(stream).connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), s.server->port()));
  stream.handshake(ssl::stream_base::client);
  bhttp::request<bhttp::empty_body> req{bhttp::verb::get, "/api/health", 11};
  req.set(bhttp::field::host, "127.0.0.1");
  bhttp::write(stream, req);
  beast::flat_buffer buffer;
  bhttp::response<bhttp::string_body> res;
  bhttp::read(stream, buffer, res);
  CHECK(res.result_int() == 200);
  CHECK(res.body() == R"({"path":"/api/health"})");
}

TEST_CASE("the TLS port speaks no plain HTTP", "[http][tls]") {
  TestCertificate cert;
  TlsServer s(cert);
  net::io_context ioc;
  beast::tcp_stream stream(ioc);
  stream.expires_after(std::chrono::seconds(20));
  stream.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), s.server->port()));
  const std::string plain = "GET /api/health HTTP/1.1\r\nHost: x\r\n\r\n";
  net::write(stream, net::buffer(plain));
  std::string got;
  beast::error_code ec;
  char buf[512];
  for (;;) {
    const std::size_t n = stream.read_some(net::buffer(buf), ec);
    if (ec || n == 0) break;
    got.append(buf, n);
  }
  CHECK(got.find("HTTP/1.1 200") == std::string::npos);
}

TEST_CASE("the WebSocket feed works over TLS (wss)", "[http][tls]") {
  TestCertificate cert;
  TlsServer s(cert);
  net::io_context ioc;
  ssl::context ctx = client_context(cert);
  websocket::stream<beast::ssl_stream<beast::tcp_stream>> ws(ioc, ctx);
  beast::get_lowest_layer(ws).expires_after(std::chrono::seconds(20));
  beast::get_lowest_layer(ws).connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), s.server->port()));
  ws.next_layer().handshake(ssl::stream_base::client);
  ws.handshake("127.0.0.1", "/ws/real-time");
  beast::flat_buffer buffer;
  ws.read(buffer);
  CHECK(beast::buffers_to_string(buffer.data()) == "tick");
}

TEST_CASE("a missing certificate file fails start naming the key", "[http][tls]") {
  TestCertificate cert;
  shoppulse::MetricsRegistry metrics;
  EchoHandler handler;
  shoppulse::HttpConfig config;
  config.port = 0;
  config.tls_cert = cert.cert_path() + ".missing";
  config.tls_key = cert.key_path();
  shoppulse::HttpServer server(config, handler, [] { return nullptr; }, metrics);
  auto started = server.start();
  REQUIRE_FALSE(started);
  CHECK(started.error().field == "http.tls_cert");
}
