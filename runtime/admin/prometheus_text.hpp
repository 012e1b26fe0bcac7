// prometheus_text: a node's counters, gauges and latency histograms in the Prometheus text
// exposition format (version 0.0.4), every series labelled with the node's id. Served by the
// metrics endpoint (metrics_endpoint.hpp); read the way the admin socket reads (report.hpp):
// relaxed loads, never a page of Aether memory.
#pragma once
#include "aether/internal/guard.hpp"

#include <string>

namespace aether {
class runtime;
}

namespace aether::admin {

std::string prometheus_text(runtime& rt);

} // namespace aether::admin
