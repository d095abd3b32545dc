import Testing

@testable import TOML

@Suite struct TOMLParserTests {
    func parse(_ text: String) throws -> TOMLTable { try TOMLParser.parse(text) }

    @Test func scalarsKeepTheirLine() throws {
        let doc = try parse(
            """
            # comment
            name = "acdd"   # trailing comment
            port = 5_060
            ratio = 0.5
            on = true

            [sip]
            listen = '127.0.0.1:5060'
            """)
        #expect(doc["name"] == TOMLNode(.string("acdd"), at: .init(line: 2, column: 8)))
        #expect(doc["port"]?.value == .integer(5060))
        #expect(doc["ratio"]?.value == .float(0.5))
        #expect(doc["on"]?.value == .bool(true))
        guard case .table(let sip)? = doc["sip"]?.value else { Issue.record("no sip table"); return }
        #expect(sip["listen"]?.value == .string("127.0.0.1:5060"))
        #expect(sip["listen"]?.position.line == 8)
        #expect(doc.keys == ["name", "port", "ratio", "on", "sip"])
    }

    @Test func integersInEveryBase() throws {
        let doc = try parse("a = 0xDEAD_beef\nb = 0o755\nc = 0b1101\nd = -17\ne = +99\nf = -9223372036854775808")
        #expect(doc["a"]?.value == .integer(0xDEAD_BEEF))
        #expect(doc["b"]?.value == .integer(0o755))
        #expect(doc["c"]?.value == .integer(13))
        #expect(doc["d"]?.value == .integer(-17))
        #expect(doc["e"]?.value == .integer(99))
        #expect(doc["f"]?.value == .integer(Int64.min))
    }

    @Test func floats() throws {
        let doc = try parse("a = 6.626e-34\nb = -inf\nc = 1e3\nd = 9_224_617.445_991")
        #expect(doc["a"]?.value == .float(6.626e-34))
        #expect(doc["b"]?.value == .float(-.infinity))
        #expect(doc["c"]?.value == .float(1000))
        #expect(doc["d"]?.value == .float(9_224_617.445_991))
    }

    @Test func strings() throws {
        let doc = try parse(
            #"""
            a = "tab\tquote\" \u00e9 \U0001F600"
            b = 'C:\path\no-escape'
            c = """
            first
            second"""
            d = """one \
                two"""
            e = '''
            raw \n stays'''
            """#)
        #expect(doc["a"]?.value == .string("tab\tquote\" é 😀"))
        #expect(doc["b"]?.value == .string(#"C:\path\no-escape"#))
        #expect(doc["c"]?.value == .string("first\nsecond"))
        #expect(doc["d"]?.value == .string("one two"))
        #expect(doc["e"]?.value == .string(#"raw \n stays"#))
    }

    @Test func arraysAndInlineTables() throws {
        let doc = try parse(
            """
            ports = [
              5060,  # udp
              5061,
            ]
            skills = { sales = 8, support = 3 }
            """)
        guard case .array(let ports)? = doc["ports"]?.value else { Issue.record("no array"); return }
        #expect(ports.map(\.value) == [.integer(5060), .integer(5061)])
        #expect(ports[1].position.line == 3)
        guard case .table(let skills)? = doc["skills"]?.value else { Issue.record("no table"); return }
        #expect(skills["support"]?.value == .integer(3))
    }

    @Test func tablesArraysOfTablesAndDottedKeys() throws {
        let doc = try parse(
            """
            [[agents]]
            id = "1001"
            phone.user = "1001"
            [[agents]]
            id = "1002"
            [agents.extra]
            x = 1
            [a.b.c]
            d = 1
            [a]
            e = 2
            """)
        guard case .array(let agents)? = doc["agents"]?.value else { Issue.record("no agents"); return }
        #expect(agents.count == 2)
        #expect(agents[1].position.line == 4)
        guard case .table(let first) = agents[0].value, case .table(let phone)? = first["phone"]?.value else {
            Issue.record("no phone")
            return
        }
        #expect(phone["user"]?.value == .string("1001"))
        guard case .table(let second) = agents[1].value else { return }
        #expect(second["extra"] != nil)
        guard case .table(let a)? = doc["a"]?.value else { return }
        #expect(a["e"]?.value == .integer(2))
        #expect(a["b"] != nil)
    }

    @Test func dateTimes() throws {
        let doc = try parse("a = 1979-05-27T07:32:00Z\nb = 1979-05-27 07:32:00.5-08:00\nc = 2026-12-25\nd = 07:32:00")
        guard case .dateTime(let a)? = doc["a"]?.value else { Issue.record("a"); return }
        #expect(a.offsetMinutes == 0)
        #expect(a.description == "1979-05-27T07:32:00Z")
        guard case .dateTime(let b)? = doc["b"]?.value else { Issue.record("b"); return }
        #expect(b.offsetMinutes == -480)
        #expect(b.time?.nanosecond == 500_000_000)
        guard case .dateTime(let c)? = doc["c"]?.value else { Issue.record("c"); return }
        #expect(c.date == .init(year: 2026, month: 12, day: 25))
        #expect(c.time == nil)
        guard case .dateTime(let d)? = doc["d"]?.value else { Issue.record("d"); return }
        #expect(d.date == nil && d.time?.minute == 32)
    }

    /// Every fault names its line, so that `acdd --check-config` can point at it.
    @Test(arguments: [
        ("a = 1\na = 2", 2, "duplicate key 'a'"),
        ("[x]\n[x]", 2, "table 'x' is defined twice"),
        ("a = hello", 1, "strings need quotes"),
        ("a = \"open", 1, "unterminated string"),
        ("a = 1 b = 2", 1, "expected the end of the line"),
        ("\n\na = [1, 2", 3, "expected ',' or ']'"),
        ("a = 01", 1, "invalid value '01'"),
        ("a = 1__0", 1, "invalid value"),
        ("a = 2026-02-30", 1, "invalid date-time"),
        ("a = { b = 1 }\n[a]", 2, "inline table"),
        ("a = 1\n[a.b]", 2, "already a value"),
        ("[[t]]\n[t]", 2, "already an array of tables"),
        ("a = \"\\q\"", 1, "unknown escape"),
        ("= 1", 1, "expected a key"),
        ("a.b.c = 1\n[a.b]", 2, "defined twice"),
        ("a = 9223372036854775808", 1, "invalid value"),
    ])
    func faultsNameTheLine(text: String, line: Int, message: String) {
        do {
            _ = try TOMLParser.parse(text)
            Issue.record("parsed: \(text)")
        } catch {
            #expect(error.position.line == line, "\(error)")
            #expect(error.message.contains(message), "\(error)")
        }
    }

    @Test func singleValuesForOverrides() throws {
        #expect(try TOMLParser.parseValue("42") == .integer(42))
        #expect(try TOMLParser.parseValue("[\"a\", \"b\"]") == .array([
            TOMLNode(.string("a"), at: .init(line: 1, column: 2)), TOMLNode(.string("b"), at: .init(line: 1, column: 7)),
        ]))
        #expect(throws: TOMLError.self) { try TOMLParser.parseValue("127.0.0.1:5060") }
    }
}
