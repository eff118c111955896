import CRankingProto
import Foundation
import H2GRPC

/// A message decoded by protobuf-c, freed when this box goes away.
///
/// Owns the unpacked C structure: read fields through ``pointer`` while the box is alive, never after.
public final class DecodedMessage<Message> {
    /// The unpacked message.
    public let pointer: UnsafeMutablePointer<Message>

    fileprivate init(_ pointer: UnsafeMutablePointer<Message>) {
        self.pointer = pointer
    }

    /// The message's fields.
    public var message: Message { pointer.pointee }

    deinit {
        protobuf_c_message_free_unpacked(
            UnsafeMutableRawPointer(pointer).assumingMemoryBound(to: ProtobufCMessage.self), nil)
    }
}

/// Decoding and encoding with protobuf-c's generic entry points.
public enum ProtoC {
    /// Decodes `bytes` as the message that protobuf-c's generated `initialize` function (e.g.
    /// `ranking__v1__rank_request__init`) sets up. A body that does not parse is the peer's mistake and becomes
    /// INTERNAL, as gRPC servers report it.
    public static func decode<Message>(
        _ bytes: [UInt8], as initialize: (UnsafeMutablePointer<Message>) -> Void
    ) throws -> DecodedMessage<Message> {
        try decode(bytes, descriptor: descriptor(of: initialize))
    }

    /// The descriptor of a generated message type, read from a message its `initialize` function set up (the
    /// descriptors are C constants that Swift cannot take the address of directly).
    public static func descriptor<Message>(
        of initialize: (UnsafeMutablePointer<Message>) -> Void
    ) -> UnsafePointer<ProtobufCMessageDescriptor> {
        withUnsafeTemporaryAllocation(of: Message.self, capacity: 1) { probe in
            initialize(probe.baseAddress!)
            return UnsafeRawPointer(probe.baseAddress!).assumingMemoryBound(to: ProtobufCMessage.self).pointee
                .descriptor
        }
    }

    /// Decodes `bytes` as the message `descriptor` describes.
    public static func decode<Message>(
        _ bytes: [UInt8], descriptor: UnsafePointer<ProtobufCMessageDescriptor>
    ) throws -> DecodedMessage<Message> {
        let unpacked = bytes.withUnsafeBufferPointer {
            protobuf_c_message_unpack(descriptor, nil, $0.count, $0.baseAddress)
        }
        guard let unpacked else {
            let name = String(cString: descriptor.pointee.name)
            throw GRPCStatus(.internal, "could not parse the request body as \(name)")
        }
        return DecodedMessage(UnsafeMutableRawPointer(unpacked).assumingMemoryBound(to: Message.self))
    }

    /// Encodes a message whose first field is protobuf-c's `ProtobufCMessage base`.
    public static func encode<Message>(_ message: UnsafePointer<Message>) -> [UInt8] {
        let base = UnsafeRawPointer(message).assumingMemoryBound(to: ProtobufCMessage.self)
        let size = protobuf_c_message_get_packed_size(base)
        return [UInt8](unsafeUninitializedCapacity: size) { buffer, count in
            count = protobuf_c_message_pack(base, buffer.baseAddress)
        }
    }

    /// Encodes a message held in a variable.
    public static func encode<Message>(_ message: inout Message) -> [UInt8] {
        withUnsafePointer(to: &message) { encode($0) }
    }

    /// A Swift string from a protobuf-c string field (NULL reads as empty).
    public static func string(_ pointer: UnsafeMutablePointer<CChar>?) -> String {
        guard let pointer else { return "" }
        return String(cString: pointer)
    }

    /// The Swift bytes of a protobuf-c bytes field.
    public static func bytes(_ data: ProtobufCBinaryData) -> [UInt8] {
        guard data.len > 0, let base = data.data else { return [] }
        return Array(UnsafeBufferPointer(start: base, count: data.len))
    }

    /// Reads a protobuf-c repeated field (count + pointer) as a Swift array.
    public static func array<Element, Result>(
        _ pointer: UnsafeMutablePointer<Element>?, count: Int, _ transform: (Element) throws -> Result
    ) rethrows -> [Result] {
        guard let pointer, count > 0 else { return [] }
        return try UnsafeBufferPointer(start: pointer, count: count).map(transform)
    }

    /// Reads a protobuf-c repeated message field (count + array of pointers), skipping NULL entries.
    public static func messages<Element>(
        _ pointer: UnsafeMutablePointer<UnsafeMutablePointer<Element>?>?, count: Int
    ) -> [UnsafeMutablePointer<Element>] {
        guard let pointer, count > 0 else { return [] }
        return UnsafeBufferPointer(start: pointer, count: count).compactMap { $0 }
    }
}

/// Memory for building a message to encode: C strings, arrays and sub-messages live until the arena is released.
///
/// protobuf-c messages point at their strings and children instead of owning them, so everything a message refers to
/// is allocated here and freed together in `deinit`, after encoding.
public final class ProtoArena {
    private var allocations: [UnsafeMutableRawPointer] = []

    /// An empty arena.
    public init() {}

    deinit {
        for allocation in allocations { free(allocation) }
    }

    /// A NUL-terminated copy of `string`.
    public func string(_ string: String) -> UnsafeMutablePointer<CChar> {
        let copy = strdup(string)!
        allocations.append(copy)
        return copy
    }

    /// Uninitialised room for `count` values (at least one, so the pointer is never NULL).
    public func allocate<T>(_ type: T.Type, count: Int) -> UnsafeMutablePointer<T> {
        let raw = malloc(MemoryLayout<T>.stride * max(count, 1))!
        allocations.append(raw)
        return raw.bindMemory(to: T.self, capacity: max(count, 1))
    }

    /// One value, initialised.
    public func make<T>(_ value: T) -> UnsafeMutablePointer<T> {
        let pointer = allocate(T.self, count: 1)
        pointer.initialize(to: value)
        return pointer
    }

    /// A copy of `elements` as a C array.
    public func array<T>(_ elements: [T]) -> UnsafeMutablePointer<T> {
        let pointer = allocate(T.self, count: elements.count)
        for (index, element) in elements.enumerated() { (pointer + index).initialize(to: element) }
        return pointer
    }

    /// A bytes field referring to a copy of `bytes`.
    public func bytes(_ bytes: [UInt8]) -> ProtobufCBinaryData {
        let pointer = allocate(UInt8.self, count: bytes.count)
        bytes.withUnsafeBufferPointer {
            if let base = $0.baseAddress { pointer.update(from: base, count: $0.count) }
        }
        return ProtobufCBinaryData(len: bytes.count, data: pointer)
    }
}
