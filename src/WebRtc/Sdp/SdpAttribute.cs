namespace OspBridge.WebRtc.Sdp;

/// <summary>One <c>a=</c> line: <c>a=name</c> (a flag, <see cref="Value"/> null) or <c>a=name:value</c>.</summary>
/// <param name="Name">The attribute name, e.g. <c>ice-ufrag</c>.</param>
/// <param name="Value">The text after the first colon, or null for a flag attribute.</param>
public sealed record SdpAttribute(string Name, string? Value = null)
{
    /// <summary>The line body without <c>a=</c>.</summary>
    public override string ToString() => Value is null ? Name : Name + ":" + Value;
}
