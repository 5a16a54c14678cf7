// Makes every handler of a connection cheaper: the strand a connection runs on is built on the
// concrete executor type. A first reading may skip this file and read asio::make_strand instead.
//
// A strand asks its inner executor, for every handler it runs, whether it may block. Through the
// type-erased any_io_executor, Asio 1.22 answers that question with a heap allocation. When the
// executor is an io_context's or a thread_pool's, the strand is built on that type instead.
#pragma once

#include <asio/any_io_executor.hpp>
#include <asio/io_context.hpp>
#include <asio/strand.hpp>
#include <asio/thread_pool.hpp>
#include <typeinfo>

namespace geerpc {

// A new strand on `executor`, for one connection.
inline asio::any_io_executor make_conn_strand(const asio::any_io_executor& executor) {
  // Asio 1.22's target<T>() casts without looking at the type, so the type is checked first.
  if (executor.target_type() == typeid(asio::io_context::executor_type))
    return asio::make_strand(*executor.target<asio::io_context::executor_type>());
  if (executor.target_type() == typeid(asio::thread_pool::executor_type))
    return asio::make_strand(*executor.target<asio::thread_pool::executor_type>());
  return asio::make_strand(executor);
}

}  // namespace geerpc
