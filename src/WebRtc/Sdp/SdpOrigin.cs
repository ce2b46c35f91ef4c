namespace OspBridge.WebRtc.Sdp;

/// <summary>
/// The <c>o=</c> line (RFC 8866 §5.2):
/// <c>o=&lt;username&gt; &lt;sess-id&gt; &lt;sess-version&gt; &lt;nettype&gt; &lt;addrtype&gt; &lt;unicast-address&gt;</c>.
/// </summary>
/// <param name="UserName">User name, <c>-</c> when none.</param>
/// <param name="SessionId">Numeric session id (JSEP: random 63-bit).</param>
/// <param name="SessionVersion">Version, incremented on each new local description.</param>
/// <param name="NetType">Network type, <c>IN</c>.</param>
/// <param name="AddrType"><c>IP4</c> or <c>IP6</c>.</param>
/// <param name="Address">Address (JSEP: <c>127.0.0.1</c>, never a real one).</param>
public sealed record SdpOrigin(string UserName, string SessionId, ulong SessionVersion, string NetType, string AddrType, string Address)
{
    /// <summary>The line body without <c>o=</c>.</summary>
    public override string ToString() => $"{UserName} {SessionId} {SessionVersion} {NetType} {AddrType} {Address}";
}
