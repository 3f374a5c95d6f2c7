#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| trendmaster_fuzz::prometheus_answer(data));
