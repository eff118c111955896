import Testing

@testable import CatalogSnapshot

typealias Row = CSVReader<MemoryBytes>.Row

/// The rows of `text`, read whole and read one byte per chunk: both must agree, so chunk boundaries never matter.
private func rows(_ text: String, maxRecordBytes: Int = 1 << 20) throws -> [Row] {
    let whole = try CSVReader.rows(text, maxRecordBytes: maxRecordBytes)
    let bytewise = try CSVReader.rows(text, maxRecordBytes: maxRecordBytes, chunkSize: 1)
    #expect(whole == bytewise, "chunk boundaries changed the result")
    return whole
}

@Suite("CSV reading (RFC 4180)")
struct CSVReaderTests {
    @Test("Quoted fields keep commas, doubled quotes and line breaks")
    func quotedFields() throws {
        let text = "id,name,notes\r\nv1,\"Luigi's, Mitte\",\"says \"\"best\"\"\r\nin town\"\r\nv2,plain,\"\"\r\n"
        #expect(
            try rows(text) == [
                .fields(["id", "name", "notes"], line: 1),
                .fields(["v1", "Luigi's, Mitte", "says \"best\"\r\nin town"], line: 2),
                .fields(["v2", "plain", ""], line: 4),
            ]
        )
    }

    @Test("LF, CRLF and a missing final line break all end records the same way")
    func lineEndings() throws {
        let expected: [Row] = [.fields(["a", "b"], line: 1), .fields(["1", "2"], line: 2)]
        #expect(try rows("a,b\n1,2\n") == expected)
        #expect(try rows("a,b\r\n1,2\r\n") == expected)
        #expect(try rows("a,b\n1,2") == expected)
        #expect(try rows("a,b\r1,2\r") == expected)
    }

    @Test("Empty fields, empty quoted fields and a trailing comma are empty strings")
    func emptyFields() throws {
        #expect(try rows(",\"\",x,\n") == [.fields(["", "", "x", ""], line: 1)])
        #expect(try rows("\"\"\n") == [.fields([""], line: 1)])
    }

    @Test("Blank lines are skipped and a UTF-8 byte order mark is ignored")
    func blankLinesAndBOM() throws {
        #expect(
            try rows("\u{FEFF}id\n\nv1\n\r\nv2\n") == [
                .fields(["id"], line: 1), .fields(["v1"], line: 3), .fields(["v2"], line: 5),
            ]
        )
    }

    @Test("A quote inside an unquoted field is kept as text")
    func quoteInsideUnquotedField() throws {
        #expect(try rows("12\" pizza,x\n") == [.fields(["12\" pizza", "x"], line: 1)])
    }

    @Test("Text after a closing quote is reported for that record and reading goes on")
    func strayTextAfterClosingQuote() throws {
        let result = try rows("\"a\"b,c\nd,e\n")
        #expect(result.count == 2)
        guard case .malformed(let message, let line, let fatal) = result[0] else {
            Issue.record("expected a malformed record, got \(result[0])")
            return
        }
        #expect(message.contains("closing quote") && line == 1 && !fatal)
        #expect(result[1] == .fields(["d", "e"], line: 2))
    }

    @Test("A quoted field still open at the end of the file is a fatal problem naming where it started")
    func unterminatedQuote() throws {
        let result = try rows("a,b\n1,\"open\nmore\n")
        #expect(result.count == 2)
        guard case .malformed(let message, let line, let fatal) = result[1] else {
            Issue.record("expected a malformed record, got \(result[1])")
            return
        }
        #expect(message.contains("line 2") && line == 2 && fatal)
    }

    @Test("A record over the size limit is reported instead of buffered, and reading stops")
    func oversizedRecord() throws {
        let text = "id\n\"" + String(repeating: "x", count: 5000) + "\"\nv2\n"
        let result = try rows(text, maxRecordBytes: 1000)
        #expect(result.count == 2)
        guard case .malformed(let message, _, let fatal) = result[1] else {
            Issue.record("expected a malformed record, got \(result[1])")
            return
        }
        #expect(message.contains("longer than 1000 bytes") && fatal)
    }

    @Test("Line numbers count line breaks inside quoted fields")
    func lineNumbersAcrossQuotedBreaks() throws {
        #expect(
            try rows("h\n\"a\nb\nc\"\nnext\n") == [
                .fields(["h"], line: 1), .fields(["a\nb\nc"], line: 2), .fields(["next"], line: 5),
            ]
        )
    }

    @Test("Bytes that are not UTF-8 make the record malformed, not the reader crash")
    func invalidUTF8() throws {
        var reader = CSVReader(MemoryBytes([0x61, 0x2c, 0xff, 0xfe, 0x0a, 0x62, 0x0a]), maxRecordBytes: 100)
        guard case .malformed(let message, _, false)? = try reader.next() else {
            Issue.record("expected a malformed record")
            return
        }
        #expect(message.contains("UTF-8"))
        #expect(try reader.next() == .fields(["b"], line: 2))
    }
}

@Suite("JSON Lines reading")
struct JSONLinesReaderTests {
    private func lines(_ text: String, maxLineBytes: Int = 1 << 20, chunkSize: Int) throws -> [String] {
        var reader = JSONLinesReader(MemoryBytes(Array(text.utf8), chunkSize: chunkSize), maxLineBytes: maxLineBytes)
        var found: [String] = []
        while let row = try reader.next() {
            switch row {
            case .object(let value, let line): found.append("\(line): \(value["id"]?.stringValue ?? "?")")
            case .malformed(let message, let line): found.append("\(line): ! \(message)")
            }
        }
        return found
    }

    @Test("Objects are read line by line with a byte order mark, CRLF and blank lines, in chunks of any size")
    func linesInChunks() throws {
        let text = "\u{FEFF}{\"id\": \"a\"}\r\n\n  \n{\"id\": \"b\"}\n[1]\n{\"id\": \"c\"}"
        let expected = ["1: a", "4: b", "5: ! the line is an array, expected a JSON object", "6: c"]
        for chunkSize in [1, 2, 3, 5, 1000] {
            #expect(try lines(text, chunkSize: chunkSize) == expected, "chunks of \(chunkSize)")
        }
    }

    @Test("An overlong line is reported and skipped without being held, and reading resumes after it")
    func overlongLine() throws {
        let text = "{\"id\": \"a\"}\n{\"id\": \"" + String(repeating: "x", count: 10_000) + "\"}\n{\"id\": \"c\"}\n"
        #expect(
            try lines(text, maxLineBytes: 100, chunkSize: 64) == [
                "1: a", "2: ! the line is longer than 100 bytes", "3: c",
            ]
        )
    }
}

@Suite("Hostile JSON Lines")
struct HostileJSONLinesTests {
    @Test("Deeply nested JSON is a malformed line, not a crash, and the next line is still read")
    func deepNesting() throws {
        let text = String(repeating: "[", count: 100_000) + "\n{\"id\": \"ok\"}\n"
        var reader = JSONLinesReader(MemoryBytes(Array(text.utf8)), maxLineBytes: 1 << 20)
        guard case .malformed(_, 1)? = try reader.next() else {
            Issue.record("deep nesting was not reported")
            return
        }
        guard case .object(let value, 2)? = try reader.next() else {
            Issue.record("the line after was not read")
            return
        }
        #expect(value["id"] == .string("ok"))
    }
}
