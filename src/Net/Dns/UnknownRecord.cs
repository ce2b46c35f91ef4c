namespace OspBridge.Net.Dns;

/// <summary>A record of a type this codec does not interpret; RDATA kept as raw bytes (names inside are not decompressed).</summary>
public sealed class UnknownRecord : DnsRecord
{
    private readonly byte[] _data;

    /// <summary>Creates a record with raw RDATA.</summary>
    public UnknownRecord(DnsName name, DnsRecordType type, ReadOnlySpan<byte> data, uint ttl, bool cacheFlush = false, ushort @class = DnsClass.IN)
        : base(name, type, ttl, cacheFlush, @class) => _data = data.ToArray();

    /// <summary>The raw RDATA.</summary>
    public ReadOnlyMemory<byte> Data => _data;

    internal override void WriteData(DnsWriter writer) => writer.WriteBytes(_data);

    /// <inheritdoc />
    public override bool DataEquals(DnsRecord other) => other is UnknownRecord u && u._data.AsSpan().SequenceEqual(_data);

    /// <inheritdoc />
    public override string DataToString() => Convert.ToHexString(_data);
}
