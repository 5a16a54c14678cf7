#include <asio/impl/src.hpp>  // Asio compiled once here; see ASIO_SEPARATE_COMPILATION
