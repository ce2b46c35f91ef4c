namespace OspBridge.Bridge.Relay;

/// <summary><c>serve --relay</c>: when the bridge hands clients its TURN relay.</summary>
internal enum RelayMode
{
    /// <summary>Only when the client and the device are on different subnets (the bridge reaches them through different local addresses).</summary>
    Auto,
    /// <summary>To every client (ICE still prefers a direct path where one works).</summary>
    Always,
    /// <summary>No relay: the TURN server does not run.</summary>
    Never,
}
