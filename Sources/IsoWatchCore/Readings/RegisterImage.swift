/// A contiguous range of one Modbus table, the unit of one read request.
public struct RegisterBlock: Sendable, Hashable, Codable {
    public var table: RegisterTable
    public var address: UInt16
    /// Number of 16-bit registers, or of bits for coil and discrete tables.
    public var count: UInt16

    public init(table: RegisterTable, address: UInt16, count: UInt16) {
        self.table = table
        self.address = address
        self.count = count
    }

    /// The first address past the block; Int because a block may end at 0x10000.
    public var end: Int { Int(address) + Int(count) }
}

/// A sparse copy of a device's Modbus tables: what a poll read (client side), or what a
/// simulated device serves (server side). Bits of coil and discrete tables are stored as 0 or 1.
public struct RegisterImage: Sendable, Equatable {
    private var cells: [RegisterTable: [UInt16: UInt16]] = [:]

    public init() {}

    public subscript(table: RegisterTable, address: UInt16) -> UInt16? {
        get { cells[table]?[address] }
        set { cells[table, default: [:]][address] = newValue }
    }

    /// Stores consecutive words (or bits as 0/1) starting at `address`; addresses wrap at 0xFFFF.
    public mutating func set(_ table: RegisterTable, _ address: UInt16, words: [UInt16]) {
        for (index, word) in words.enumerated() {
            self[table, address &+ UInt16(truncatingIfNeeded: index)] = word
        }
    }

    /// The words of a block, or nil when any of them is absent from the image.
    public func words(_ table: RegisterTable, _ address: UInt16, count: Int) -> [UInt16]? {
        guard let column = cells[table] else { return count == 0 ? [] : nil }
        var result: [UInt16] = []
        result.reserveCapacity(count)
        for index in 0..<count {
            guard let word = column[address &+ UInt16(truncatingIfNeeded: index)] else { return nil }
            result.append(word)
        }
        return result
    }

    public func words(_ block: RegisterBlock) -> [UInt16]? {
        words(block.table, block.address, count: Int(block.count))
    }

    /// Every address present in a table, ascending.
    public func addresses(in table: RegisterTable) -> [UInt16] {
        (cells[table]?.keys).map { $0.sorted() } ?? []
    }
}
