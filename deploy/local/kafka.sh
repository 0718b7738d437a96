#!/usr/bin/env bash
# Single-node Apache Kafka (KRaft) from Maven Central jars, under .local/kafka.
#   kafka.sh start   fetch jars once, format storage once, start, wait for metadata
#   kafka.sh stop    stop the broker started by start
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
KAFKA_DIR="$LOCAL_DIR/kafka"
JARS="$KAFKA_DIR/jars"
DATA="$KAFKA_DIR/data"
LOG="$KAFKA_DIR/kafka.log"
PIDFILE="$KAFKA_DIR/kafka.pid"
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

fetch_jars() {
  [ -f "$JARS/.complete" ] && return 0
  command -v mvn >/dev/null || die "Maven (mvn) is missing: install it (apt-get install maven) to fetch the Kafka jars"
  echo "careloop: fetching Apache Kafka jars from Maven Central into $JARS"
  rm -rf "$JARS" && mkdir -p "$JARS"
  mvn -q -f "$HERE/pom.xml" dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$JARS" \
    || die "mvn dependency:copy-dependencies failed"
  touch "$JARS/.complete"
}

java_cmd() {
  command -v java >/dev/null || die "Java is missing: Kafka needs a Java 17+ runtime (apt-get install openjdk-17-jre-headless)"
  local heap="${CARELOOP_KAFKA_HEAP:--Xms256m -Xmx768m}"
  # shellcheck disable=SC2206
  JAVA=(java $heap -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -Djava.awt.headless=true
    "-Dlog4j2.configurationFile=$KAFKA_DIR/log4j2.yaml" -cp "$JARS/*")
}

write_config() {
  mkdir -p "$DATA"
  cat >"$KAFKA_DIR/server.properties" <<CONF
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$KAFKA_CONTROLLER_PORT
listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT,CONTROLLER://127.0.0.1:$KAFKA_CONTROLLER_PORT
advertised.listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT
controller.listener.names=CONTROLLER
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
inter.broker.listener.name=PLAINTEXT
log.dirs=$DATA
num.partitions=1
auto.create.topics.enable=false
offsets.topic.replication.factor=1
offsets.topic.num.partitions=6
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
delete.topic.enable=true
num.network.threads=2
num.io.threads=4
log.retention.hours=168
message.max.bytes=1048576
CONF
  cat >"$KAFKA_DIR/log4j2.yaml" <<CONF
Configuration:
  Appenders:
    RollingFile:
      name: File
      fileName: "$LOG"
      filePattern: "$LOG.%i"
      PatternLayout: { pattern: "[%d] %p %m (%c)%n" }
      SizeBasedTriggeringPolicy: { size: 20MB }
      DefaultRolloverStrategy: { max: 2 }
  Loggers:
    Root: { level: INFO, AppenderRef: [{ ref: File }] }
    Logger:
      - { name: kafka, level: WARN }
      - { name: org.apache.kafka, level: WARN }
      - { name: state.change.logger, level: WARN }
CONF
}

format_storage() {
  [ -f "$DATA/meta.properties" ] && return 0
  echo "careloop: formatting KRaft storage in $DATA"
  java_cmd
  "${JAVA[@]}" kafka.tools.StorageTool format -t "careloop-local-cluster-01" \
    -c "$KAFKA_DIR/server.properties" >>"$LOG" 2>&1 || { tail -20 "$LOG" >&2; die "kafka storage format failed (see $LOG)"; }
}

wait_ready() {
  local py="${REPO_ROOT}/.venv/bin/python"
  for _ in $(seq 1 120); do
    if [ -f "$PIDFILE" ] && ! kill -0 "$(cat "$PIDFILE")" 2>/dev/null; then
      tail -30 "$LOG" >&2; die "Kafka exited during start-up (log: $LOG)"
    fi
    if port_open "$KAFKA_PORT" && "$py" -m runtime.infra kafka-ready "127.0.0.1:$KAFKA_PORT" >/dev/null 2>&1; then
      echo "careloop: Kafka ready on 127.0.0.1:$KAFKA_PORT"
      return 0
    fi
    sleep 0.5
  done
  tail -30 "$LOG" >&2
  die "Kafka did not answer metadata requests within 60 s (log: $LOG)"
}

start() {
  if [ -f "$PIDFILE" ] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; then
    wait_ready; return 0
  fi
  port_open "$KAFKA_PORT" && die "port $KAFKA_PORT is taken by another process; set CARELOOP_KAFKA_PORT or KAFKA_BOOTSTRAP_SERVERS"
  mkdir -p "$KAFKA_DIR"
  fetch_jars
  write_config
  format_storage
  java_cmd
  # The broker ignores Ctrl-C (a background job), so only its pid file lets down.sh stop it: a Ctrl-C
  # right after the launch still writes the file before the script ends.
  trap '[ -z "${!:-}" ] || echo "$!" >"$PIDFILE"; exit 130' INT TERM
  nohup "${JAVA[@]}" kafka.Kafka "$KAFKA_DIR/server.properties" >>"$LOG" 2>&1 &
  echo $! >"$PIDFILE"
  trap - INT TERM
  wait_ready
}

stop() {
  [ -f "$PIDFILE" ] || return 0
  local pid; pid="$(cat "$PIDFILE")"
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid"
    for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid"
  fi
  rm -f "$PIDFILE"
  say "careloop: Kafka stopped"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  *) die "usage: kafka.sh start|stop" ;;
esac
