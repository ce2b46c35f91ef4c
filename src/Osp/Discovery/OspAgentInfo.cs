using System.Net;

namespace OspBridge.Osp.Discovery;

/// <summary>An OSP agent found by DNS-SD, with validated TXT keys. The name is unverified until agent-info confirms it.</summary>
/// <param name="InstanceName">The DNS-SD instance label as advertised (may end with the NUL truncation marker).</param>
/// <param name="HostName">SRV target.</param>
/// <param name="Port">SRV port (the QUIC server port).</param>
/// <param name="Addresses">Addresses of the host.</param>
/// <param name="Txt">The validated TXT keys.</param>
public sealed record OspAgentInfo(string InstanceName, string HostName, ushort Port, IReadOnlyList<IPAddress> Addresses, OspTxt Txt)
{
    /// <summary>True when the instance name is a truncated display name (spec: do not show it before agent-info).</summary>
    public bool IsTruncated => OspInstanceName.IsTruncated(InstanceName);

    /// <summary>True when the agent advertises a private (random) instance name (<see cref="OspInstanceName.IsPrivate"/>): its real name comes only with agent-info after authentication.</summary>
    public bool IsPrivate => OspInstanceName.IsPrivate(InstanceName);

    /// <summary>The instance name without the truncation marker.</summary>
    public string DisplayName => OspInstanceName.WithoutMarker(InstanceName);
}
