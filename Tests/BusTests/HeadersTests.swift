import Bus
import Testing

@Suite("headers")
struct HeadersTests {
    @Test("names match without regard to case, only letters fold, and setting replaces every spelling")
    func caseInsensitive() {
        var headers: Headers = ["Nats-Msg-Id": "C1.D1.v3", "content-type": "application/msgpack"]
        #expect(headers["nats-msg-id"] == "C1.D1.v3" && headers["NATS-MSG-ID"] == "C1.D1.v3")
        #expect(headers["Content-Type"] == "application/msgpack")
        #expect(headers["Nats-Msg-Ic"] == nil && headers["Nats-Msg-I"] == nil && headers["Nats\u{0D}Msg-Id"] == nil)
        #expect(headers["Nats-Msg\u{0D}Id"] == nil)  // '-' (0x2D) and CR (0x0D) differ only in bit 0x20: not letters
        headers.append("X-Tag", "a")
        headers.append("x-tag", "b")
        #expect(headers.values("X-TAG") == ["a", "b"])
        headers["X-Tag"] = "c"
        #expect(headers.values("x-tag") == ["c"])
    }

    @Test("text from elsewhere is made one non-blank header line", arguments: [
        ("plain", "plain"), ("two\r\nlines", "two  lines"), ("tab\tkept", "tab kept"), ("", "-"), (" \t", "-"), ("nul\u{0}", "nul "),
        ("ошибка\u{85}", "ошибка "),
    ])
    func lineSafe(text: String, expected: String) {
        #expect(Headers.lineSafe(text) == expected)
    }
}
