/** Java 25 FFM bindings to the Linux calls synproxy needs, with errno captured and explained. */
package io.synproxy.linux;
