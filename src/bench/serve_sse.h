// Incremental Server-Sent Events parser for the benchmark client.
//
// Bytes of a streamed response body arrive in arbitrary pieces (after HTTP chunked decoding); feed()
// buffers them and returns the payload of every event completed so far. An event ends at a blank line
// ("\n\n", "\r\n\r\n" or "\r\r"); its `data:` lines (one optional space after the colon stripped) are
// joined with '\n'; comment lines (starting with ':') and other fields (event:, id:, retry:) are
// ignored, and an event without data yields nothing. `[DONE]` is returned like any other payload.
// finish() returns a last event that was not terminated by a blank line (the stream ended).
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace strata::bench {

class SseParser {
 public:
  // Appends bytes and returns the data of each event completed by them, in order.
  std::vector<std::string> feed(std::string_view bytes);
  // End of stream: the data of an unterminated trailing event, if it has any.
  std::vector<std::string> finish();
  // Bytes held back waiting for the end of an event.
  size_t buffered() const { return buffer_.size(); }

 private:
  // Parses one event block (without its terminating blank line); appends its data if any.
  static void parse_event(std::string_view block, std::vector<std::string>& out);

  std::string buffer_;
  size_t scan_from_ = 0;  // where the search for a blank line resumes
};

}  // namespace strata::bench
