from __future__ import annotations

from rest_framework import serializers

from people.models import BusinessUnit, CenterOfExcellence, UnitMembership


class BusinessUnitSerializer(serializers.ModelSerializer):
    class Meta:
        model = BusinessUnit
        fields = ["id", "code", "slug", "name", "description", "parent", "lead", "updated_at"]
        read_only_fields = fields


class CenterOfExcellenceSerializer(serializers.ModelSerializer):
    class Meta:
        model = CenterOfExcellence
        fields = ["id", "name", "slug", "mission", "lead", "updated_at"]
        read_only_fields = fields


class UnitMembershipSerializer(serializers.ModelSerializer):
    username = serializers.CharField(source="user.username", read_only=True)

    class Meta:
        model = UnitMembership
        fields = ["id", "user", "username", "business_unit", "role", "granted_by", "updated_at"]
        read_only_fields = fields
