#include "common/kafka_handles.h"

#include "common/error.h"

namespace kvstream::kafka {

void set_conf(rd_kafka_conf_t* conf, const std::string& name, const std::string& value) {
  char err[512];
  if (rd_kafka_conf_set(conf, name.c_str(), value.c_str(), err, sizeof(err)) != RD_KAFKA_CONF_OK) {
    throw Error(ErrorKind::kFatal, "Kafka property " + name + ": " + err);
  }
}

}  // namespace kvstream::kafka
