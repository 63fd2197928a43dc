/** Counters defined once, with ids and labels, and the histograms the proxy exports. */
package io.synproxy.metrics;
