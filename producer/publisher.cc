#include "producer/publisher.h"

namespace kvstream::producer {

const char* to_string(DeliveryFailure failure) {
  switch (failure) {
    case DeliveryFailure::kNone:
      return "none";
    case DeliveryFailure::kTooLarge:
      return "too large";
    case DeliveryFailure::kQueueFull:
      return "queue full";
    case DeliveryFailure::kTimedOut:
      return "timed out";
    case DeliveryFailure::kAbandoned:
      return "abandoned";
    case DeliveryFailure::kOther:
      return "refused";
  }
  return "refused";
}

}  // namespace kvstream::producer
