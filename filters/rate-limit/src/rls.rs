//! Envoy's rate limit service API (`envoy.service.ratelimit.v3`): the
//! messages a global rule sends and reads, as prost derives them from the
//! fields of Envoy's `rls.proto` and `ratelimit.proto` that this filter
//! uses (unknown fields in an answer are skipped, as protobuf wants).

use prost::Message;

/// The service's fully qualified name.
pub const SERVICE: &str = "envoy.service.ratelimit.v3.RateLimitService";
/// The method every request calls.
pub const METHOD: &str = "ShouldRateLimit";

/// `envoy.service.ratelimit.v3.RateLimitRequest`.
#[derive(Clone, PartialEq, Message)]
pub struct RateLimitRequest {
    /// The domain the service's limits are configured under.
    #[prost(string, tag = "1")]
    pub domain: String,
    /// One descriptor per global rule the request matched.
    #[prost(message, repeated, tag = "2")]
    pub descriptors: Vec<RateLimitDescriptor>,
    /// How many hits the request adds; 0 is read as 1.
    #[prost(uint32, tag = "3")]
    pub hits_addend: u32,
}

/// `envoy.extensions.common.ratelimit.v3.RateLimitDescriptor`.
#[derive(Clone, PartialEq, Message)]
pub struct RateLimitDescriptor {
    /// Its entries, in order.
    #[prost(message, repeated, tag = "1")]
    pub entries: Vec<Entry>,
}

/// `RateLimitDescriptor.Entry`.
#[derive(Clone, PartialEq, Message)]
pub struct Entry {
    /// The entry's key.
    #[prost(string, tag = "1")]
    pub key: String,
    /// The entry's value.
    #[prost(string, tag = "2")]
    pub value: String,
}

/// `envoy.service.ratelimit.v3.RateLimitResponse`.
#[derive(Clone, PartialEq, Message)]
pub struct RateLimitResponse {
    /// OK, or OVER_LIMIT if any descriptor is.
    #[prost(enumeration = "Code", tag = "1")]
    pub overall_code: i32,
    /// One status per descriptor sent, in order.
    #[prost(message, repeated, tag = "2")]
    pub statuses: Vec<DescriptorStatus>,
}

/// `RateLimitResponse.DescriptorStatus`.
#[derive(Clone, PartialEq, Message)]
pub struct DescriptorStatus {
    /// OK or OVER_LIMIT for this descriptor.
    #[prost(enumeration = "Code", tag = "1")]
    pub code: i32,
    /// The limit that applied, if the service says.
    #[prost(message, optional, tag = "2")]
    pub current_limit: Option<RateLimit>,
    /// What is left of it in the current unit.
    #[prost(uint32, tag = "3")]
    pub limit_remaining: u32,
    /// When the current unit ends.
    #[prost(message, optional, tag = "4")]
    pub duration_until_reset: Option<ProtoDuration>,
}

/// `RateLimitResponse.RateLimit`.
#[derive(Clone, PartialEq, Message)]
pub struct RateLimit {
    /// Requests allowed per unit.
    #[prost(uint32, tag = "1")]
    pub requests_per_unit: u32,
    /// The unit.
    #[prost(enumeration = "Unit", tag = "2")]
    pub unit: i32,
    /// The limit's name, if any.
    #[prost(string, tag = "3")]
    pub name: String,
}

/// `google.protobuf.Duration`.
#[derive(Clone, PartialEq, Message)]
pub struct ProtoDuration {
    /// Whole seconds.
    #[prost(int64, tag = "1")]
    pub seconds: i64,
    /// Nanoseconds beyond them.
    #[prost(int32, tag = "2")]
    pub nanos: i32,
}

/// `RateLimitResponse.Code`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, prost::Enumeration)]
#[repr(i32)]
pub enum Code {
    /// Not set.
    Unknown = 0,
    /// Under the limit.
    Ok = 1,
    /// Over the limit.
    OverLimit = 2,
}

/// `RateLimitResponse.RateLimit.Unit`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, prost::Enumeration)]
#[repr(i32)]
pub enum Unit {
    /// Not set.
    Unknown = 0,
    /// A second.
    Second = 1,
    /// A minute.
    Minute = 2,
    /// An hour.
    Hour = 3,
    /// A day.
    Day = 4,
    /// A month (30 days here).
    Month = 5,
    /// A year (365 days here).
    Year = 6,
    /// A week.
    Week = 7,
}

impl Unit {
    /// Its length in seconds; `None` when not set.
    pub fn seconds(self) -> Option<u64> {
        match self {
            Unit::Unknown => None,
            Unit::Second => Some(1),
            Unit::Minute => Some(60),
            Unit::Hour => Some(3_600),
            Unit::Day => Some(86_400),
            Unit::Week => Some(7 * 86_400),
            Unit::Month => Some(30 * 86_400),
            Unit::Year => Some(365 * 86_400),
        }
    }
}

/// `envoy.config.core.v3.GrpcService`, only to tell whether Envoy would
/// read a cluster name as one (see [`reads_as_grpc_service`]).
#[derive(Clone, PartialEq, Message)]
struct GrpcService {}

/// Whether bytes meant as a cluster name also decode as a protobuf
/// message: Envoy tries the `GrpcService` reading first, so such a name
/// would not reach the cluster.
pub fn reads_as_grpc_service(name: &[u8]) -> bool {
    GrpcService::decode(name).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_encodes_as_envoys_wire_format() {
        let request = RateLimitRequest {
            domain: "d".to_owned(),
            descriptors: vec![RateLimitDescriptor {
                entries: vec![Entry {
                    key: "k".to_owned(),
                    value: "v".to_owned(),
                }],
            }],
            hits_addend: 1,
        };
        // domain (1): "d"; descriptors (2): { entries (1): { key (1): "k", value (2): "v" } }; hits_addend (3): 1
        let expected = [
            0x0a, 1, b'd', 0x12, 8, 0x0a, 6, 0x0a, 1, b'k', 0x12, 1, b'v', 0x18, 1,
        ];
        assert_eq!(request.encode_to_vec(), expected);
    }

    #[test]
    fn an_answer_decodes_and_unknown_fields_are_skipped() {
        let status = DescriptorStatus {
            code: Code::OverLimit as i32,
            current_limit: Some(RateLimit {
                requests_per_unit: 50,
                unit: Unit::Minute as i32,
                name: String::new(),
            }),
            limit_remaining: 0,
            duration_until_reset: Some(ProtoDuration {
                seconds: 12,
                nanos: 0,
            }),
        };
        let mut bytes = RateLimitResponse {
            overall_code: Code::OverLimit as i32,
            statuses: vec![status.clone()],
        }
        .encode_to_vec();
        // response_headers_to_add (3), which this filter does not read.
        bytes.extend_from_slice(&[0x1a, 2, 0x0a, 0]);
        let answer = RateLimitResponse::decode(bytes.as_slice()).unwrap();
        assert_eq!(answer.overall_code, Code::OverLimit as i32);
        assert_eq!(answer.statuses, vec![status]);
        assert!(RateLimitResponse::decode(&[0x0a][..]).is_err());
    }

    #[test]
    fn cluster_names_that_read_as_a_message_are_told_apart() {
        for name in [
            "ratelimit",
            "rate-limit",
            "outbound|8081||ratelimit.svc",
            "limitador",
        ] {
            assert!(!reads_as_grpc_service(name.as_bytes()), "{name}");
        }
        // 'h' is field 13 as a varint, 'x' its value: a valid message.
        assert!(reads_as_grpc_service(b"hx"));
    }
}
