namespace OspBridge.Quic.Http3.Qpack;

/// <summary>One HTTP field line (name in lower case; pseudo-headers start with ':').</summary>
public readonly record struct HeaderField(string Name, string Value);
