namespace OspBridge.Net.Dns;

// RFC 1035 §3.3.12 PTR RDATA: PTRDNAME (name; compressible in mDNS, RFC 6762 §18.14).

/// <summary>A pointer record (DNS-SD: service type → instance name).</summary>
public sealed class PtrRecord : DnsRecord
{
    /// <summary>Creates a PTR record (shared, so no cache-flush by default).</summary>
    public PtrRecord(DnsName name, DnsName target, uint ttl, bool cacheFlush = false, ushort @class = DnsClass.IN)
        : base(name, DnsRecordType.PTR, ttl, cacheFlush, @class) => Target = target;

    /// <summary>The name pointed to.</summary>
    public DnsName Target { get; }

    internal override void WriteData(DnsWriter writer) => writer.WriteName(Target);

    /// <inheritdoc />
    public override bool DataEquals(DnsRecord other) => other is PtrRecord p && p.Target == Target;

    /// <inheritdoc />
    public override string DataToString() => Target.ToString();
}
