/** The validated configuration of a proxy: the CLI only fills it, validation happens once here. */
package io.synproxy.config;
