// The query log's record and sink live in the pipeline (which fills them); admin names them
// here for its own code.
#pragma once

#include "resolver/pipeline/query_log_record.hpp"

namespace vnetdns::admin {
using pipeline::QueryLogRecord;
using pipeline::QueryLogSink;
}  // namespace vnetdns::admin
