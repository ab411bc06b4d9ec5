import Bus
import Foundation
import Logging
import Messages
import ServiceKit
import Testing
import TestSupport
import Wire

@Suite("typed endpoints answer every failure with an ErrorBody")
struct EndpointErrorTests {
    struct Ask: Codable, Sendable { var what: String }
    struct Answer: Codable, Sendable { var text: String }
    struct Broken: Error, CustomStringConvertible { var description: String { "SQLite said: disk I/O error at /var/lib/secret.sqlite" } }

    @Test("a dependency that does not answer is a 503, a fault of ours a 500 that keeps its details in the log, both with a body; a mistyped field is a 400 naming it")
    func failuresOfOurs() async throws {
        let server = try NatsServer()
        var options = ConnectionOptions(servers: [server.url], name: "svc")
        options.sendAsap = true
        let nc = try await NatsConnection.connect(options, logger: Logger(label: "svc"))
        let service = try MicroService(connection: nc, identity: .init(name: "faulty", version: "1.0.0"))
        try service.addEndpoint("ask", subject: "faulty.ask", request: Ask.self) { ask, _ -> Answer in
            switch ask.what {
            case "timeout": throw BusError.timeout(subject: "$JS.API.STREAM.INFO.X")
            case "broken": throw Broken()
            case "refused": throw ErrorBody(code: ErrorBody.unprocessable, message: "no", field: "what")
            default: return Answer(text: ask.what)
            }
        }
        let task = Task { try await service.run() }
        try nc.flush()
        #expect(try await nc.request(Ask(what: "hi"), to: "faulty.ask", expecting: Answer.self).text == "hi")
        await #expect(throws: ErrorBody(code: 503, message: "a service this request needs did not answer; try again")) {
            _ = try await nc.request(Ask(what: "timeout"), to: "faulty.ask", expecting: Answer.self)
        }
        await #expect(throws: ErrorBody(code: 500, message: "internal error; it has been logged")) {
            _ = try await nc.request(Ask(what: "broken"), to: "faulty.ask", expecting: Answer.self)
        }
        await #expect(throws: ErrorBody(code: 422, message: "no", field: "what")) {
            _ = try await nc.request(Ask(what: "refused"), to: "faulty.ask", expecting: Answer.self)
        }
        // A field of the wrong type, or nil where a value is needed, is a 400 naming it.
        for body in [[0x81, 0xA4] + Array("what".utf8) + [0x05], [0x81, 0xA4] + Array("what".utf8) + [0xC0]] as [[UInt8]] {
            do {
                _ = try await nc.request(body, to: "faulty.ask")
                Issue.record("a mistyped field was answered")
            } catch BusError.serviceError(let code, _, let reply) {
                let error = try MessagePackDecoder().decode(ErrorBody.self, from: reply)
                #expect(code == 400 && error.field == "what", "\(error)")
            }
        }
        // The raw reply: ADR-32 headers and a MessagePack body, whatever failed.
        do {
            _ = try await nc.request(try MessagePackEncoder().encode(Ask(what: "broken")), to: "faulty.ask")
            Issue.record("a failure was answered as a success")
        } catch BusError.serviceError(let code, _, let body) {
            #expect(code == 500)
            #expect(try MessagePackDecoder().decode(ErrorBody.self, from: body).code == 500)
        }
        await service.stop()
        try await task.value
    }
}
