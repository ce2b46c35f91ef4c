namespace OspBridge.Net.Dns;

// RFC 2782 SRV RDATA: PRIORITY (16) | WEIGHT (16) | PORT (16) | TARGET (name; compressible in mDNS).

/// <summary>A service location record (instance → host:port).</summary>
public sealed class SrvRecord : DnsRecord
{
    /// <summary>Creates an SRV record.</summary>
    public SrvRecord(DnsName name, ushort priority, ushort weight, ushort port, DnsName target, uint ttl, bool cacheFlush = true, ushort @class = DnsClass.IN)
        : base(name, DnsRecordType.SRV, ttl, cacheFlush, @class)
    {
        Priority = priority;
        Weight = weight;
        Port = port;
        Target = target;
    }

    /// <summary>Priority (lower first).</summary>
    public ushort Priority { get; }

    /// <summary>Weight among equal priorities.</summary>
    public ushort Weight { get; }

    /// <summary>Port of the service.</summary>
    public ushort Port { get; }

    /// <summary>Host name of the service.</summary>
    public DnsName Target { get; }

    internal override void WriteData(DnsWriter writer)
    {
        writer.WriteUInt16(Priority);
        writer.WriteUInt16(Weight);
        writer.WriteUInt16(Port);
        writer.WriteName(Target);
    }

    /// <inheritdoc />
    public override bool DataEquals(DnsRecord other)
        => other is SrvRecord s && s.Priority == Priority && s.Weight == Weight && s.Port == Port && s.Target == Target;

    /// <inheritdoc />
    public override string DataToString() => $"{Priority} {Weight} {Port} {Target}";
}
