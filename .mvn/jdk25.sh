# Sourced (POSIX sh) by ./mvnw and ./moeprune: when JAVA_HOME is not set, use a JDK 25 from the usual Linux install
# places, so that both work as written on a machine whose default `java` is older. A JAVA_HOME that is set is left
# alone; if it is not a JDK 25 the build stops at once with "JDK 25 required" (maven-enforcer-plugin in pom.xml).
if [ -z "${JAVA_HOME-}" ]; then
  for moeprune_jdk in /usr/lib/jvm/temurin-25-jdk-amd64 /usr/lib/jvm/temurin-25-jdk-arm64 \
      /usr/lib/jvm/java-25-openjdk-amd64 /usr/lib/jvm/java-25-openjdk-arm64; do
    if [ -x "$moeprune_jdk/bin/javac" ]; then
      JAVA_HOME="$moeprune_jdk"
      export JAVA_HOME
      break
    fi
  done
  unset moeprune_jdk
fi
