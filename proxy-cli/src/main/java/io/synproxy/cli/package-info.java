/** The synproxy command line: picocli commands that fill the configuration and run the proxy. */
package io.synproxy.cli;
