//! The envelope decoder on any text: it answers, never panics, its error quotes only a bounded
//! preview, and an envelope it accepts is written out as JSON that decodes to the same envelope.
#![no_main]

use aito_core::Envelope;
use aito_core::envelope::MAX_ENVELOPE_BYTES;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match Envelope::from_json_capped(text, MAX_ENVELOPE_BYTES) {
        Ok(envelope) => {
            let json = envelope.to_json();
            let again = Envelope::from_json(&json)
                .unwrap_or_else(|err| panic!("{json} does not decode again: {err}"));
            assert_eq!(again, envelope, "{json}");
        }
        Err(err) => assert!(err.to_string().len() < 4096, "an error of {} bytes", err.to_string().len()),
    }
});
