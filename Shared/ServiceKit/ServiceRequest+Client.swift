import Bus
import Messages

extension ServiceRequest {
    /// The client id of a per-client request subject (`deal.query.<client>.list`, `netting.cmd.<client>.close`):
    /// the token at `index`, which must be a valid `SubjectToken`, else a 400 `ErrorBody`.
    public func clientToken(at index: Int = 2) throws -> String {
        guard let token = Subject(subject)[index], SubjectToken(rawValue: token) != nil else {
            throw ErrorBody(code: ErrorBody.badRequest, message: "no client in subject \(subject)")
        }
        return token
    }
}
