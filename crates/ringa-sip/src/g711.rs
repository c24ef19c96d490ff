//! G.711 µ-law and A-law coding (ITU-T G.711) and transcoding between the two laws.
//!
//! Both laws map one 8-bit code to one 16-bit linear sample at 8 kHz; the relay decodes a
//! leg's payload to linear, records it, and re-encodes it in the other leg's law.

/// A G.711 law negotiated on a leg.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Codec {
    /// µ-law, static RTP payload type 0 ("PCMU").
    Pcmu,
    /// A-law, static RTP payload type 8 ("PCMA").
    Pcma,
}

impl Codec {
    /// The static RTP payload type of this law.
    pub fn payload_type(self) -> u8 {
        match self {
            Codec::Pcmu => 0,
            Codec::Pcma => 8,
        }
    }

    /// The SDP encoding name of this law.
    pub fn encoding_name(self) -> &'static str {
        match self {
            Codec::Pcmu => "PCMU",
            Codec::Pcma => "PCMA",
        }
    }

    /// The law for a static payload type, if it is one of ours.
    pub fn from_payload_type(pt: u8) -> Option<Codec> {
        match pt {
            0 => Some(Codec::Pcmu),
            8 => Some(Codec::Pcma),
            _ => None,
        }
    }

    /// The law for an SDP encoding name (case-insensitive).
    pub fn from_encoding_name(name: &str) -> Option<Codec> {
        if name.eq_ignore_ascii_case("PCMU") {
            Some(Codec::Pcmu)
        } else if name.eq_ignore_ascii_case("PCMA") {
            Some(Codec::Pcma)
        } else {
            None
        }
    }

    /// Encodes one linear sample.
    pub fn encode_sample(self, sample: i16) -> u8 {
        match self {
            Codec::Pcmu => linear_to_ulaw(sample),
            Codec::Pcma => linear_to_alaw(sample),
        }
    }

    /// Decodes one code to a linear sample.
    pub fn decode_sample(self, code: u8) -> i16 {
        match self {
            Codec::Pcmu => ulaw_to_linear(code),
            Codec::Pcma => alaw_to_linear(code),
        }
    }

    /// Decodes a payload, appending the samples to `out`.
    pub fn decode_into(self, payload: &[u8], out: &mut Vec<i16>) {
        out.extend(payload.iter().map(|&c| self.decode_sample(c)));
    }

    /// Encodes samples, appending the codes to `out`.
    pub fn encode_into(self, samples: &[i16], out: &mut Vec<u8>) {
        out.extend(samples.iter().map(|&s| self.encode_sample(s)));
    }

    /// The code for digital silence in this law.
    pub fn silence(self) -> u8 {
        self.encode_sample(0)
    }
}

/// Re-encodes a payload from one law to another (a copy when both are the same).
pub fn transcode(from: Codec, to: Codec, payload: &[u8]) -> Vec<u8> {
    if from == to {
        return payload.to_vec();
    }
    payload.iter().map(|&c| to.encode_sample(from.decode_sample(c))).collect()
}

const ULAW_BIAS: i32 = 0x84;
const ULAW_CLIP: i32 = 32_635;

/// Encodes a linear sample to µ-law.
pub fn linear_to_ulaw(sample: i16) -> u8 {
    let mut magnitude = i32::from(sample);
    let sign: u8 = if magnitude < 0 {
        magnitude = -magnitude;
        0x80
    } else {
        0
    };
    magnitude = magnitude.min(ULAW_CLIP) + ULAW_BIAS;

    // The segment is the position of the highest set bit above bit 7.
    let mut exponent: u8 = 7;
    let mut probe = 0x4000;
    while exponent > 0 && magnitude & probe == 0 {
        exponent -= 1;
        probe >>= 1;
    }
    let mantissa = ((magnitude >> (exponent + 3)) & 0x0F) as u8;
    !(sign | (exponent << 4) | mantissa)
}

/// Decodes a µ-law code to a linear sample.
pub fn ulaw_to_linear(code: u8) -> i16 {
    let code = !code;
    let exponent = (code >> 4) & 0x07;
    let mantissa = i32::from(code & 0x0F);
    let magnitude = (((mantissa << 3) + ULAW_BIAS) << exponent) - ULAW_BIAS;
    let value = if code & 0x80 != 0 { -magnitude } else { magnitude };
    // The largest magnitude is 32124, so the value always fits.
    value as i16
}

/// Encodes a linear sample to A-law.
pub fn linear_to_alaw(sample: i16) -> u8 {
    let mut value = i32::from(sample) >> 3;
    let mask: u8 = if value >= 0 {
        0xD5
    } else {
        value = -value - 1;
        0x55
    };
    const SEGMENT_ENDS: [i32; 8] = [0x1F, 0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF];
    let Some(segment) = SEGMENT_ENDS.iter().position(|&end| value <= end) else {
        return 0x7F ^ mask;
    };
    let shift = if segment < 2 { 1 } else { segment };
    let code = ((segment as u8) << 4) | ((value >> shift) & 0x0F) as u8;
    code ^ mask
}

/// Decodes an A-law code to a linear sample.
pub fn alaw_to_linear(code: u8) -> i16 {
    let code = code ^ 0x55;
    let segment = (code & 0x70) >> 4;
    let mut magnitude = i32::from(code & 0x0F) << 4;
    magnitude = match segment {
        0 => magnitude + 8,
        _ => (magnitude + 0x108) << (segment - 1),
    };
    let value = if code & 0x80 != 0 { magnitude } else { -magnitude };
    // The largest magnitude is 32256, so the value always fits.
    value as i16
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ulaw_known_codes() {
        assert_eq!(linear_to_ulaw(0), 0xFF);
        assert_eq!(ulaw_to_linear(0xFF), 0);
        assert_eq!(ulaw_to_linear(0x7F), 0);
        assert_eq!(ulaw_to_linear(0x00), -32_124);
        assert_eq!(ulaw_to_linear(0x80), 32_124);
        assert_eq!(linear_to_ulaw(i16::MAX), 0x80);
        assert_eq!(linear_to_ulaw(i16::MIN), 0x00);
    }

    #[test]
    fn alaw_known_codes() {
        assert_eq!(linear_to_alaw(0), 0xD5);
        assert_eq!(alaw_to_linear(0xD5), 8);
        assert_eq!(alaw_to_linear(0x55), -8);
        assert_eq!(alaw_to_linear(0xAA), 32_256);
        assert_eq!(alaw_to_linear(0x2A), -32_256);
        assert_eq!(linear_to_alaw(i16::MAX), 0xAA);
    }

    #[test]
    fn every_code_survives_a_decode_encode_round_trip() {
        for code in 0..=255u8 {
            let u = ulaw_to_linear(code);
            // 0x7F and 0xFF both mean zero; zero encodes as 0xFF.
            let expected = if code == 0x7F { 0xFF } else { code };
            assert_eq!(linear_to_ulaw(u), expected, "µ-law code {code:#x}");
            assert_eq!(linear_to_alaw(alaw_to_linear(code)), code, "A-law code {code:#x}");
        }
    }

    #[test]
    fn quantisation_error_is_small_relative_to_the_sample() {
        for s in (-32_000i32..32_000).step_by(97) {
            let s = s as i16;
            for codec in [Codec::Pcmu, Codec::Pcma] {
                let back = i32::from(codec.decode_sample(codec.encode_sample(s)));
                let err = (back - i32::from(s)).abs();
                assert!(err <= i32::from(s).abs() / 16 + 16, "{codec:?} {s} -> {back}");
            }
        }
    }

    #[test]
    fn transcoding_keeps_the_waveform() {
        let samples: Vec<i16> =
            (0..160).map(|i| ((i as f64 / 5.0).sin() * 8000.0) as i16).collect();
        let mut ulaw = Vec::new();
        Codec::Pcmu.encode_into(&samples, &mut ulaw);
        let alaw = transcode(Codec::Pcmu, Codec::Pcma, &ulaw);
        let mut back = Vec::new();
        Codec::Pcma.decode_into(&alaw, &mut back);
        for (a, b) in samples.iter().zip(&back) {
            assert!((i32::from(*a) - i32::from(*b)).abs() < 600, "{a} vs {b}");
        }
        assert_eq!(transcode(Codec::Pcmu, Codec::Pcmu, &ulaw), ulaw);
    }
}
