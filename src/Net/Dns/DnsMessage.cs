namespace OspBridge.Net.Dns;

/// <summary>A whole DNS message: header, questions and the three record sections.</summary>
public sealed class DnsMessage
{
    /// <summary>Largest mDNS message we accept or build (RFC 6762 §17: 9000 octets incl. IP/UDP headers).</summary>
    public const int MaxMessageSize = 9000;

    /// <summary>Header id and flags.</summary>
    public DnsHeader Header { get; set; }

    /// <summary>Question section.</summary>
    public List<DnsQuestion> Questions { get; } = [];

    /// <summary>Answer section.</summary>
    public List<DnsRecord> Answers { get; } = [];

    /// <summary>Authority section (mDNS probes put their proposed records here).</summary>
    public List<DnsRecord> Authorities { get; } = [];

    /// <summary>Additional section.</summary>
    public List<DnsRecord> Additionals { get; } = [];

    /// <summary>True for a response.</summary>
    public bool IsResponse => Header.IsResponse;

    /// <summary>
    /// Parses a message. Throws <see cref="NetException"/> with <see cref="NetError.Malformed"/> for any
    /// malformed or truncated input (nothing else escapes), and <see cref="NetError.LimitExceeded"/> for
    /// messages over <see cref="MaxMessageSize"/>. Trailing octets after the counted records are ignored.
    /// </summary>
    public static DnsMessage Parse(ReadOnlySpan<byte> data)
    {
        if (data.Length > MaxMessageSize) throw new NetException(NetError.LimitExceeded, $"DNS message of {data.Length} octets (max {MaxMessageSize})");
        var reader = new DnsReader(data);
        var (header, qd, an, ns, ar) = reader.ReadHeader();
        // Every question needs ≥ 5 octets and every record ≥ 11: reject impossible counts before allocating.
        if ((long)qd * 5 + ((long)an + ns + ar) * 11 > reader.Remaining) throw DnsReader.Malformed("section counts exceed the message length");
        var m = new DnsMessage { Header = header };
        for (int i = 0; i < qd; i++) m.Questions.Add(reader.ReadQuestion());
        for (int i = 0; i < an; i++) m.Answers.Add(reader.ReadRecord());
        for (int i = 0; i < ns; i++) m.Authorities.Add(reader.ReadRecord());
        for (int i = 0; i < ar; i++) m.Additionals.Add(reader.ReadRecord());
        return m;
    }

    /// <summary>Like <see cref="Parse"/> but returns false instead of throwing.</summary>
    public static bool TryParse(ReadOnlySpan<byte> data, out DnsMessage? message)
    {
        try
        {
            message = Parse(data);
            return true;
        }
        catch (NetException)
        {
            message = null;
            return false;
        }
    }

    /// <summary>Encodes the message with name compression; throws <see cref="NetError.LimitExceeded"/> if it exceeds <paramref name="maxSize"/>.</summary>
    public byte[] Encode(int maxSize = MaxMessageSize)
    {
        var w = new DnsWriter(maxSize);
        w.WriteHeader(Header, Questions.Count, Answers.Count, Authorities.Count, Additionals.Count);
        if (w.Overflowed) throw TooBig(maxSize);
        foreach (var q in Questions) if (!w.TryWriteQuestion(q)) throw TooBig(maxSize);
        foreach (var r in Answers) if (!w.TryWriteRecord(r)) throw TooBig(maxSize);
        foreach (var r in Authorities) if (!w.TryWriteRecord(r)) throw TooBig(maxSize);
        foreach (var r in Additionals) if (!w.TryWriteRecord(r)) throw TooBig(maxSize);
        return w.ToArray();
    }

    private static NetException TooBig(int max) => new(NetError.LimitExceeded, $"DNS message does not fit in {max} octets");

    /// <inheritdoc />
    public override string ToString()
        => $"{(IsResponse ? "response" : "query")} id={Header.Id} flags=0x{Header.Flags:x4} q={Questions.Count} an={Answers.Count} ns={Authorities.Count} ar={Additionals.Count}";
}
